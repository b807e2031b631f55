from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_q1(normalize_by_hand):
    from peprkit import checks
    checks.lesson01.q1(normalize_by_hand)

