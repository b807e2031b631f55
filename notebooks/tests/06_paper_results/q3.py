from otter.test_files import test_case

OK_FORMAT = False

name = "q3"
points = 2

@test_case(points=None, hidden=False)
def test_q3(n_rules_disagree, small_still_better, raw, imagenet):
    from peprkit import checks
    checks.lesson06.q3(n_rules_disagree, small_still_better, results=raw, imagenet=imagenet)

