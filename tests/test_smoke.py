from gd_core import hookimpl


def test_hook_gd_register_metrics(host_with):
    class AlwaysOne:
        @hookimpl
        def gd_register_metrics(self, register):
            register("always_one", lambda: lambda pool, model, truth: 1.0)

    assert host_with(AlwaysOne()).registries.metrics.get("always_one").plugin == "AlwaysOne"
