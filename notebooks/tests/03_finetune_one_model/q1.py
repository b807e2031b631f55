from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_q1(best_epoch_by_hand, history, REFERENCE_KWH):
    from peprkit import checks
    checks.lesson03.q1(best_epoch_by_hand, history=history, reference_kwh=REFERENCE_KWH)

