"""The split editor's logic without I/O: the declaration of a GET answer, new weights from a form, the
difference with each variant's share, and the result as Terraform HCL for `hydro_application`."""

from __future__ import annotations

from typing import Any

from control_plane.ui import splits

ANSWER: dict[str, Any] = {
    "name": "fraud-check",
    "stages": [
        {
            "variants": [
                {
                    "model": "fraud",
                    "version": 3,
                    "weight": 90,
                    "deployment_config": "default",
                    "replicas": None,
                },
                {
                    "model": "fraud",
                    "version": 4,
                    "weight": 10,
                    "deployment_config": "default",
                    "replicas": None,
                },
                {
                    "model": "shadowed",
                    "version": 1,
                    "weight": 0,
                    "deployment_config": "small",
                    "replicas": None,
                },
            ]
        },
        {"variants": [{"model": "explain", "version": 2, "weight": 100, "deployment_config": "default"}]},
    ],
    "sampling_rate": 0.5,
    "require_invoke_key": True,
    "kafka": {
        "source_topic": "in",
        "destination_topic": "out",
        "error_topic": "err",
        "consumer_group": "hydro.fraud-check",
        "lag": None,
        "lag_error": "no brokers",
    },
    "invoke_urls": {},
    "routable": True,
}


def test_the_declaration_is_what_put_takes() -> None:
    body = splits.declaration(ANSWER)
    assert set(body) == {"stages", "sampling_rate", "require_invoke_key", "kafka"}
    assert body["kafka"] == {
        "source_topic": "in",
        "destination_topic": "out",
        "error_topic": "err",
        "consumer_group": "hydro.fraud-check",
    }
    assert "replicas" not in body["stages"][0]["variants"][0]


def test_new_weights_keep_what_the_form_does_not_name_and_pass_text_on() -> None:
    before = splits.declaration(ANSWER)
    after = splits.with_weights(before, {"weight-0-0": " 50 ", "weight-0-1": "50", "weight-1-0": "lots"})
    assert [v["weight"] for v in after["stages"][0]["variants"]] == [50, 50, 0]
    assert after["stages"][1]["variants"][0]["weight"] == "lots"  # the API will say why not
    assert [v["weight"] for v in before["stages"][0]["variants"]] == [90, 10, 0]  # untouched


def test_the_difference_shows_each_share_of_its_stage() -> None:
    before = splits.declaration(ANSWER)
    after = splits.with_weights(before, {"weight-0-0": "50", "weight-0-1": "50", "weight-1-0": "lots"})
    changes = splits.diff(before, after)
    assert [(c.stage, c.label, c.before, c.after, c.changed) for c in changes] == [
        (0, "fraud v3 (default)", 90, 50, True),
        (0, "fraud v4 (default)", 10, 50, True),
        (0, "shadowed v1 (small)", 0, 0, False),
        (1, "explain v2 (default)", 100, "lots", True),
    ]
    assert [c.share_before for c in changes[:3]] == [90.0, 10.0, 0.0]
    assert [c.share_after for c in changes[:3]] == [50.0, 50.0, 0.0]
    assert changes[3].share_after is None  # not a number: no share to show


def test_the_hcl_is_the_hydro_application_resource() -> None:
    assert splits.as_hcl("fraud-check", splits.declaration(ANSWER)) == (
        'resource "hydro_application" "fraud_check" {\n'
        '  name               = "fraud-check"\n'
        "  sampling_rate      = 0.5\n"
        "  require_invoke_key = true\n"
        "\n"
        "  stage {\n"
        "    variant {\n"
        '      model             = "fraud"\n'
        "      version           = 3\n"
        "      weight            = 90\n"
        '      deployment_config = "default"\n'
        "    }\n"
        "    variant {\n"
        '      model             = "fraud"\n'
        "      version           = 4\n"
        "      weight            = 10\n"
        '      deployment_config = "default"\n'
        "    }\n"
        "    variant {\n"
        '      model             = "shadowed"\n'
        "      version           = 1\n"
        "      weight            = 0\n"
        '      deployment_config = "small"\n'
        "    }\n"
        "  }\n"
        "\n"
        "  stage {\n"
        "    variant {\n"
        '      model             = "explain"\n'
        "      version           = 2\n"
        "      weight            = 100\n"
        '      deployment_config = "default"\n'
        "    }\n"
        "  }\n"
        "\n"
        "  kafka {\n"
        '    source_topic      = "in"\n'
        '    destination_topic = "out"\n'
        '    error_topic       = "err"\n'
        '    consumer_group    = "hydro.fraud-check"\n'
        "  }\n"
        "}\n"
    )
