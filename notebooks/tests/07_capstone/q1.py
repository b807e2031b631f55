from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_q1(table, results, ENERGY_BUDGET_KWH, INTENSITY):
    from peprkit import checks
    checks.lesson07.q1(table, budget_kwh=ENERGY_BUDGET_KWH, intensity_g_per_kwh=INTENSITY, results=results)

