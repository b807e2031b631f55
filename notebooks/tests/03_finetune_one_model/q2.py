from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 2

@test_case(points=None, hidden=False)
def test_q2(energy_saved_kwh, saved_fraction, history, early):
    from peprkit import checks
    checks.lesson03.q2(energy_saved_kwh, saved_fraction, full=history, early=early.history)

