from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 2

@test_case(points=None, hidden=False)
def test_q2(pepr_by_hand):
    from peprkit import checks
    checks.lesson01.q2(pepr_by_hand)

