from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_q1(pepr_t_by_hand, results):
    from peprkit import checks
    checks.lesson05.q1(pepr_t_by_hand, results=results)

