from otter.test_files import test_case

OK_FORMAT = False

name = "q1"
points = 2

@test_case(points=None, hidden=False)
def test_q1(energy_pretrained_kwh, energy_scratch_kwh, history_pretrained, history_scratch, TARGET_ACC):
    from peprkit import checks
    checks.lesson04.q1(energy_pretrained_kwh, history=history_pretrained, target=TARGET_ACC, name='energy_pretrained_kwh')
    checks.lesson04.q1(energy_scratch_kwh, history=history_scratch, target=TARGET_ACC, name='energy_scratch_kwh')

