from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 1

@test_case(points=None, hidden=False)
def test_q2(cpu_source, reading):
    from peprkit import checks
    checks.lesson00.q2(cpu_source, reading=reading)

