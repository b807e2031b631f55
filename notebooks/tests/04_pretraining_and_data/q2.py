from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 2

@test_case(points=None, hidden=False)
def test_q2(p_value, pretrained_acc, scratch_acc):
    from peprkit import checks
    checks.lesson04.q2(p_value, first=pretrained_acc, second=scratch_acc)

