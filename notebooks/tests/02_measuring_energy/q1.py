from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_q1(co2_by_hand_g, BUSY_KWH, INTENSITY, PUE):
    from peprkit import checks
    checks.lesson02.q1(co2_by_hand_g, energy_kwh=BUSY_KWH, intensity_g_per_kwh=INTENSITY, pue=PUE)

