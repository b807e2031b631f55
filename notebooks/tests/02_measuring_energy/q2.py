from otter.test_files import test_case

OK_FORMAT = False

name = "q2"
points = 2

@test_case(points=None, hidden=False)
def test_q2(per_image_small, per_image_large, run_small, run_large, n_images):
    from peprkit import checks
    checks.lesson02.q2(per_image_small, per_image_large, run_small=run_small, run_large=run_large, n_images=n_images)

