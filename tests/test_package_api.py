"""The library's public names are what `liveinsight.__all__` claims, and importing it stays light."""
from __future__ import annotations

import subprocess
import sys

import liveinsight


def test_every_public_name_resolves_to_what_it_claims():
    for name in liveinsight.__all__:
        value = getattr(liveinsight, name)
        assert value.__name__ == name
        assert value.__module__.startswith("liveinsight.")


def test_importing_the_lambda_handler_pulls_in_no_dashboard_or_aws_client_code():
    code = ("import sys; sys.path.insert(0, 'lambdas'); import lambda_function; "
            "print(','.join(m for m in ('pandas', 'plotly', 'streamlit', 'boto3', 'pydantic', 'moto') "
            "if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=liveinsight.__path__[0] + "/..").stdout.strip()
    assert loaded == ""  # boto3 and the event model load on first use, in the function that needs them
