from otter.test_files import test_case

OK_FORMAT = False

name = "q3"
points = 2

@test_case(points=None, hidden=False)
def test_q3(rank_by_accuracy, rank_by_pepr, table):
    from peprkit import checks
    checks.lesson01.q3(rank_by_accuracy, rank_by_pepr, table=table)

