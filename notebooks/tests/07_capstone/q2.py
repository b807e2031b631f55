from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 1

@test_case(points=None, hidden=False)
def test_q2(fits, results, ENERGY_BUDGET_KWH, MEMORY_BUDGET_GB):
    from peprkit import checks
    checks.lesson07.q2(fits, table=checks.lesson07.decision_table(results), energy_budget_kwh=ENERGY_BUDGET_KWH, memory_budget_gb=MEMORY_BUDGET_GB)

