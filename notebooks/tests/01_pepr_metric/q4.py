from otter.test_files import test_case

OK_FORMAT = False

name = "q4"
points = 2

@test_case(points=None, hidden=False)
def test_q4(minmax_with, minmax_without, budget_with, budget_without, table, MODEL, DROP, BUDGET_KWH):
    from peprkit import checks
    checks.lesson01.q4(minmax_with, minmax_without, budget_with, budget_without, table=table, model=MODEL, drop=DROP, budget_kwh=BUDGET_KWH)

