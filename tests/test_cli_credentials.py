"""``moi credential ...`` end to end with two homes: an issuer and a holder.

Issue in every format, store, list, show, present (with selective disclosure), verify; revoke,
suspend and unsuspend with the issuer's status lists served over HTTP by a local server that
calls ``status_list_document`` on the issuer's wallet; and the error contract for bad input
(one line on stderr, a non-zero exit, nothing stored).

Most commands run in this process through ``agent.cli.main.main`` (a subprocess costs a
second of imports each); the error contract is also checked on real subprocesses.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from agent.cli.main import main
from wallet import Wallet
from wallet.credentials.issuer import status_list_document
from wallet.credentials.issuer_status import StatusListNotFound
from wallet.credentials.sd_jwt_core import Disclosure, split_sd_jwt

from .test_cli_support import PASSPHRASE, Run, base_env, failed, moi, ok, store_rows

FORMATS = ("di-jcs", "di-rdfc", "vc-jwt", "sd-jwt")
NONCE = "cli-nonce-42"
AUDIENCE = "did:web:verifier.example"
CLAIMS = {"given_name": "Erika", "age_over_18": True, "nationality": "DE"}


@dataclass
class Homes:
    issuer_home: Path
    holder_home: Path
    issuer: str
    holder: str
    env: dict[str, str]
    scratch: Path

    def run(
        self, home: Path | None, *args: Any, stdin: bytes | None = None, real: bool = False
    ) -> Run:
        if real:
            return moi(*args, home=home, env=self.env, stdin=stdin)
        return in_process(*args, home=home, env=self.env, stdin=stdin)

    def issuer_run(self, *args: Any) -> Run:
        return self.run(self.issuer_home, *args)

    def holder_run(self, *args: Any, stdin: bytes | None = None) -> Run:
        return self.run(self.holder_home, *args, stdin=stdin)

    def file(self, name: str, text: str) -> Path:
        path = self.scratch / name
        path.write_text(text)
        return path


_RUN_LOCK = threading.Lock()


def in_process(
    *args: Any, home: Path | None, env: dict[str, str], stdin: bytes | None = None
) -> Run:
    """``moi ARGS`` through ``main()`` here, with the environment, streams and the global
    logging / warnings state it changes restored afterwards."""
    argv = [*(["--home", str(home)] if home is not None else []), *map(str, args)]
    out, err = io.StringIO(), io.StringIO()
    fake_in = io.TextIOWrapper(io.BytesIO(stdin or b""))
    with _RUN_LOCK, warnings.catch_warnings():
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        streams = sys.stdin, sys.stdout, sys.stderr
        sys.stdin, sys.stdout, sys.stderr = fake_in, out, err  # type: ignore[assignment]
        try:
            code = main(argv)
        finally:
            sys.stdin, sys.stdout, sys.stderr = streams
            os.environ.clear()
            os.environ.update(saved)
            logging.disable(logging.NOTSET)
    return Run(tuple(argv), code, out.getvalue(), err.getvalue())


@pytest.fixture
def homes(tmp_path: Path) -> Homes:
    env = base_env(tmp_path)
    issuer_home, holder_home = tmp_path / "issuer", tmp_path / "holder"
    for home in (issuer_home, holder_home):
        ok(in_process("init", home=home, env=env))
    issuer = ok(in_process("did", "create", "--method", "key", home=issuer_home, env=env))
    holder = ok(in_process("did", "create", "--method", "peer2", home=holder_home, env=env))
    return Homes(issuer_home, holder_home, issuer.out.strip(), holder.out.strip(), env, tmp_path)


def issue_args(h: Homes, fmt: str, *extra: str) -> tuple[str, ...]:
    args = ["credential", "issue", "--from", h.issuer, "--subject", h.holder, "--format", fmt]
    args += [
        "--claims",
        json.dumps(CLAIMS),
        "--type",
        "urn:example:Pid" if fmt == "sd-jwt" else "Pid",
    ]
    if fmt == "sd-jwt":
        for claim in CLAIMS:
            args += ["--sd", claim]
    return (*args, *extra)


def verified(run: Run) -> dict[str, Any]:
    ok(run)
    report = run.json()
    assert report["verified"] is True, str(run)
    return report


def not_verified(run: Run) -> tuple[dict[str, Any], str]:
    """``verify`` on failure: the report on stdout, exit 1, and one line on stderr."""
    assert run.code == 1, str(run)
    assert run.err.count("\n") == 1 and run.err.startswith("moi: error: not verified: "), str(run)
    assert "Traceback" not in run.err
    report = run.json()
    assert report["verified"] is False
    return report, run.err.strip()


def test_issue_store_present_verify(homes: Homes) -> None:
    h = homes
    issued = [ok(h.issuer_run(*issue_args(h, f))).out for f in FORMATS]
    files = {f: h.file(f"{f}.txt", text) for f, text in zip(FORMATS, issued, strict=True)}
    assert json.loads(issued[0])["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    assert json.loads(issued[1])["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    assert issued[2].count(".") == 2 and issued[3].rstrip().endswith("~")

    # Anyone can verify a credential offline (no wallet, no passphrase).
    report = verified(h.run(None, "credential", "verify", files["di-rdfc"], real=True))
    assert report["checks"]["signature"] == "ok" and report["issuer"] == h.issuer

    ids = {f: ok(h.holder_run("credential", "store", files[f])).out.strip() for f in FORMATS}
    again = ok(h.holder_run("credential", "store", "-", stdin=files["vc-jwt"].read_bytes()))
    assert again.out.strip() == ids["vc-jwt"]  # the store is by id

    listing = ok(h.holder_run("credentials")).json()
    assert sorted(c["format"] for c in listing) == sorted(FORMATS)
    for entry in listing:
        assert set(entry) >= {"id", "format", "issuer", "types", "subject", "valid_until", "status"}
        assert entry["issuer"] == h.issuer and entry["subject"] == h.holder
    only_sd = ok(h.holder_run("credentials", "--format", "sd-jwt")).json()
    assert [c["id"] for c in only_sd] == [ids["sd-jwt"]]

    shown = ok(h.holder_run("credential", "show", ids["di-jcs"])).json()
    assert shown["claims"] == CLAIMS and shown["credential"]["id"] == ids["di-jcs"]

    preview = ok(
        h.holder_run(
            "credential",
            "present",
            ids["sd-jwt"],
            "--disclose",
            "age_over_18",
            "--audience",
            AUDIENCE,
            "--preview",
        )
    ).json()
    assert preview["disclosed"] == {"age_over_18": True} and preview["to"] == AUDIENCE
    assert sorted(preview["withheld"]) == ["given_name", "nationality"]

    def present(fmt: str) -> str:
        disclose = ("--disclose", "age_over_18") if fmt == "sd-jwt" else ()
        run = h.holder_run(
            "credential", "present", ids[fmt], *disclose, "--nonce", NONCE, "--audience", AUDIENCE
        )
        return ok(run).out

    presentations = {
        f: h.file(f"{f}.vp", p) for f, p in zip(FORMATS, [present(f) for f in FORMATS], strict=True)
    }
    sd_parts = split_sd_jwt(presentations["sd-jwt"].read_text().strip())
    assert [Disclosure.decode(d).name for d in sd_parts.disclosures] == ["age_over_18"]

    def check(fmt: str, nonce: str) -> Run:
        args = (
            "credential",
            "verify",
            presentations[fmt],
            "--nonce",
            nonce,
            "--audience",
            AUDIENCE,
        )
        return h.run(None, *args)

    jobs = [(f, NONCE) for f in FORMATS] + [("di-jcs", "replayed"), ("sd-jwt", "replayed")]
    for (fmt, nonce), run in zip(jobs, [check(*job) for job in jobs], strict=True):
        if nonce == NONCE:
            report = verified(run)
            assert report["presentation"] is True and report["checks"]["holder_binding"] == "ok"
            expected = {"age_over_18": True} if fmt == "sd-jwt" else CLAIMS
            assert report["claims"] == expected
        else:
            report, line = not_verified(run)
            assert report["checks"]["signature"] == "ok"
            assert report["checks"]["holder_binding"].startswith("failed: ")
            assert report["errors"][0]["error"] == "ChallengeMismatch"
            assert "holder_binding" in line

    ok(h.holder_run("credential", "delete", ids["di-rdfc"]))
    line = failed(h.holder_run("credential", "show", ids["di-rdfc"]))
    assert "no credential" in line


class StatusServer:
    """The issuer's ``GET /status/{list_id}``, served from its home on a loopback port."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StatusServer:
        self._thread.start()
        assert self._ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._loop.run_forever()
        self._loop.run_until_complete(self._stop())
        self._loop.close()

    async def _start(self) -> None:
        self.wallet = await Wallet.open(f"sqlite://{self.home}/wallet.db", passphrase=PASSPHRASE)

        async def serve(request: web.Request) -> web.StreamResponse:
            try:
                body, kind = await status_list_document(self.wallet, request.match_info["id"])
            except StatusListNotFound:
                return web.Response(status=404)
            return web.Response(body=body, content_type=kind)

        app = web.Application()
        app.router.add_get("/status/{id}", serve)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()

    async def _stop(self) -> None:
        await self.runner.cleanup()
        await self.wallet.close()


@pytest.fixture
def status_server(homes: Homes) -> Iterator[StatusServer]:
    with StatusServer(homes.issuer_home) as server:
        yield server


def test_revoke_suspend_unsuspend(homes: Homes, status_server: StatusServer) -> None:
    h = homes
    revoked_file = h.file(
        "a.json",
        ok(
            h.issuer_run(
                *issue_args(h, "di-jcs", "--status", "--status-url-base", status_server.base)
            )
        ).out,
    )
    # The default base URL is the agent's configured public endpoint.
    env = {**h.env, "MOI_ENDPOINT": status_server.base}
    suspended = ok(in_process(*issue_args(h, "sd-jwt", "--status"), home=h.issuer_home, env=env))
    suspended = suspended.out
    suspended_file = h.file("b.txt", suspended)
    a_id = json.loads(revoked_file.read_text())["id"]
    b_id = ok(h.holder_run("credential", "store", suspended_file)).out.strip()

    def check(path: Path) -> Run:
        return h.run(None, "credential", "verify", path, "--allow-http")

    for report in [verified(check(revoked_file)), verified(check(suspended_file))]:
        assert report["checks"]["status"] == "ok"
    # Without --allow-http, a plain-http status list is refused, and the credential fails.
    report, line = not_verified(h.run(None, "credential", "verify", revoked_file))
    assert "status" in line

    assert ok(h.issuer_run("credential", "revoke", a_id)).json()["revoked"] is True
    assert ok(h.issuer_run("credential", "suspend", b_id)).json()["suspended"] is True
    report_a, line_a = not_verified(check(revoked_file))
    report_b, _ = not_verified(check(suspended_file))
    assert report_a["errors"][0]["error"] == "CredentialRevoked" and "revoked" in line_a
    assert report_b["errors"][0]["error"] == "CredentialSuspended"
    assert report_b["checks"]["signature"] == "ok"

    assert ok(h.issuer_run("credential", "unsuspend", b_id)).json()["suspended"] is False
    assert verified(check(suspended_file))["checks"]["status"] == "ok"
    line = failed(h.issuer_run("credential", "unsuspend", "urn:uuid:never-issued"))
    assert "was not issued here" in line


def test_bad_input(homes: Homes) -> None:
    h = homes
    good = json.loads(ok(h.issuer_run(*issue_args(h, "di-jcs"))).out)
    tampered = {**good, "credentialSubject": {**good["credentialSubject"], "age_over_18": False}}
    unknown_suite = {**good, "proof": {**good["proof"], "cryptosuite": "eddsa-2099"}}
    wrong_context = {**good, "@context": [*good["@context"], "https://evil.example/v1"]}
    cases = {
        "tampered": (tampered, "ProofError"),
        "unknown-suite": (unknown_suite, "UnsupportedCryptosuite"),
        "wrong-context": (wrong_context, "ContextError"),
        "not-json": ("{oops", "MalformedCredential"),
    }
    before = store_rows(h.holder_home)
    for name, (doc, error) in cases.items():
        path = h.file(f"{name}.json", doc if isinstance(doc, str) else json.dumps(doc))
        real = name == "tampered"
        report, _ = not_verified(h.run(None, "credential", "verify", path, real=real))
        assert report["errors"][0]["error"] == error, name
        failed(h.run(h.holder_home, "credential", "store", path, real=real))
    assert store_rows(h.holder_home) == before  # nothing stored

    stored = ok(h.holder_run("credential", "store", h.file("good.json", json.dumps(good)))).out
    line = failed(h.holder_run("credential", "present", stored.strip()))
    assert "--nonce" in line
    line = failed(
        h.holder_run(
            "credential",
            "present",
            stored.strip(),
            "--disclose",
            "age_over_18",
            "--nonce",
            NONCE,
            "--audience",
            AUDIENCE,
        )
    )
    assert "shown whole" in line
    line = failed(h.issuer_run(*issue_args(h, "sd-jwt")[:-2], "--sd", "iss"))
    assert "selectively" in line
    line = failed(h.issuer_run(*issue_args(h, "di-jcs", "--valid-until", "tomorrow")))
    assert "valid-until" in line
    failed(
        h.issuer_run(
            "credential",
            "issue",
            "--from",
            h.issuer,
            "--subject",
            h.holder,
            "--format",
            "ldp",
            "--claims",
            "{}",
        ),
        code=2,
    )
    line = failed(h.holder_run(*issue_args(h, "di-jcs")))
    assert "not one of this wallet's DIDs" in line
