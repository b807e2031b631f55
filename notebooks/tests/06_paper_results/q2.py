from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 2

@test_case(points=None, hidden=False)
def test_q2(n_small_better_pepr, n_small_better_acc, scored):
    from peprkit import checks
    checks.lesson06.q2(n_small_better_pepr, n_small_better_acc, scored=scored)

