from otter.test_files import test_case

OK_FORMAT = False

name = "q3"
points = 2

@test_case(points=None, hidden=False)
def test_q3(choice, results, ENERGY_BUDGET_KWH, MEMORY_BUDGET_GB):
    from peprkit import checks
    checks.lesson07.q3(choice, table=checks.lesson07.decision_table(results), energy_budget_kwh=ENERGY_BUDGET_KWH, memory_budget_gb=MEMORY_BUDGET_GB)

