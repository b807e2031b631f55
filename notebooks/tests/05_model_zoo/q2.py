from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 2

@test_case(points=None, hidden=False)
def test_q2(deploy, scored):
    from peprkit import checks
    checks.lesson05.q2(deploy, scored=scored)

