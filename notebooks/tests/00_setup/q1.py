from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_q1(energy_by_hand_kwh, POWER_W, reading):
    from peprkit import checks
    checks.lesson00.q1(energy_by_hand_kwh, power_w=POWER_W, duration_s=reading.duration_s)

