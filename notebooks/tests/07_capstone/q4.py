from otter.test_files import test_case

OK_FORMAT = False

name = "q4"
points = 2

@test_case(points=None, hidden=False)
def test_q4(choice, yearly_co2_kg, results, ENERGY_BUDGET_KWH, MEMORY_BUDGET_GB, INTENSITY):
    from peprkit import checks
    checks.lesson07.q4(choice, yearly_co2_kg, table=checks.lesson07.decision_table(results), energy_budget_kwh=ENERGY_BUDGET_KWH, memory_budget_gb=MEMORY_BUDGET_GB, intensity_g_per_kwh=INTENSITY)

