from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 3

@test_case(points=None, hidden=False)
def test_q1(pepr_e_by_hand, raw, EXPERIMENT):
    from peprkit import checks
    checks.lesson06.q1(pepr_e_by_hand, results=raw, experiment=EXPERIMENT)

