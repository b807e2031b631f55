from otter.test_files import test_case

OK_FORMAT = False

name = "q3"
points = 2

@test_case(points=None, hidden=False)
def test_q3(learned, top_adj, results):
    from peprkit import checks
    checks.lesson05.q3(learned, top_adj, results=results)

