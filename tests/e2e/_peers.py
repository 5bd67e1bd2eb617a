"""Real peers for the end-to-end tests: a running ``voxplane serve``, sipp, tcpdump.

The peers come from Debian packages that ``./dev test`` installs (``sip-tester``,
``baresip``, ``tcpdump``, ``sox``); a missing one fails with the install command.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from voxplane.media.g711 import ulaw_decode, ulaw_encode
from voxplane.media.resample import resample
from voxplane.media.rtp import RtpPacket
from voxplane.media.wav import decode_wav
from voxplane.testing import pcap

REPO = Path(__file__).parents[2]
FSDD = REPO.parent / "shared" / "audio" / "fsdd"
SCENARIOS = Path(__file__).parent / "scenarios"
SIPP_PCAPS = Path("/usr/share/sip-tester")
ADMIN_TOKEN = "e2e-admin-token-" + "x" * 24
PASSWORD = "correct horse battery"
INSTALL = "sudo apt-get install -y --no-install-recommends sip-tester baresip tcpdump sox chromium"


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.fail(f"{binary} is missing: run ./dev test as root, or {INSTALL}")
    return path


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_sip_port() -> int:
    """A port free for both UDP and TCP."""
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def _free_pair() -> int:
    for _ in range(50):
        port = free_sip_port()
        with socket.socket() as tcp:
            try:
                tcp.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port pair")


# --- speech ----------------------------------------------------------------------------


def digits_ulaw(digits: str, speaker: str = "jackson", take: int = 1, gap_ms: int = 250) -> bytes:
    """Headerless 8 kHz μ-law of FSDD recordings of ``digits`` with short gaps."""
    parts: list[np.ndarray[Any, Any]] = []
    gap = np.zeros(8 * gap_ms, np.int16)
    for digit in digits:
        path = FSDD / f"{digit}_{speaker}_{take}.wav"
        if not path.exists():
            pytest.fail(f"{path} is missing: the end-to-end tests need ../shared/audio/fsdd")
        samples, rate = decode_wav(path.read_bytes())
        parts += [resample(samples, rate, 8000), gap]
    return ulaw_encode(np.concatenate(parts).astype(np.int16))


# --- the server ------------------------------------------------------------------------


@dataclass
class Server:
    """A ``voxplane serve`` subprocess with SIP, and a tenant to use it as."""

    process: subprocess.Popen[bytes]
    http: httpx.Client
    sip_port: int
    rtp_ports: tuple[int, int]
    log: Path
    key: str = ""

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.key}"}
        response = self.http.request(method, path, headers=headers, **kwargs)
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return response.json() if response.content else None

    def setup_tenant(
        self,
        agent: dict[str, Any],
        number: str,
        trunk: dict[str, Any],
        limits: dict[str, Any] | None = None,
    ) -> str:
        """A tenant with ``agent`` answering ``number`` through ``trunk`` (its key becomes
        :attr:`key`); returns the agent's id."""
        name = f"e2e-{os.getpid()}-{time.monotonic_ns()}"
        body = {"name": name, "email": f"o@{name}.test", "limits": limits or {}}
        made = self.http.post(
            "/v1/tenants",
            json={**body, "password": PASSWORD},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert made.status_code == 201, made.text
        self.key = made.json()["api_key"]
        agent_id: str = self.api("POST", "/v1/agents", json=agent)["id"]
        self.api("POST", "/v1/phone-numbers", json={"number": number, "agent_id": agent_id})
        self.api("POST", "/v1/sip-trunks", json=trunk)
        return agent_id

    def calls(self, expected: int = 1, timeout_s: float = 20.0) -> list[dict[str, Any]]:
        """The tenant's call records, once ``expected`` of them are written."""
        deadline = time.monotonic() + timeout_s
        while True:
            items: list[dict[str, Any]] = self.api("GET", "/v1/calls")["items"]
            if len(items) >= expected or time.monotonic() > deadline:
                return [self.api("GET", f"/v1/calls/{c['id']}") for c in items]
            time.sleep(0.2)

    def alive(self) -> bool:
        return self.process.poll() is None


@contextlib.contextmanager
def run_server(
    data_dir: Path, *, extra_env: dict[str, str] | None = None, sip: bool = True
) -> Iterator[Server]:
    """``voxplane serve`` on free ports; ``sip=False`` runs it with ``--sip-port 0``."""
    http_port, sip_port = free_port(), free_sip_port() if sip else 0
    low = 20000 + (os.getpid() % 200) * 100
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "VOXPLANE_ADMIN_TOKEN": ADMIN_TOKEN,
        "VOXPLANE_LOG_LEVEL": "info",
        **(extra_env or {}),
    }
    command = [
        sys.executable, "-c", "from voxplane.cli.main import main; raise SystemExit(main())",
        "serve", "--port", str(http_port), "--sip-port", str(sip_port),
        "--rtp-ports", f"{low}-{low + 98}", "--data-dir", str(data_dir),
    ]  # fmt: skip
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    http = httpx.Client(base_url=f"http://127.0.0.1:{http_port}", timeout=10.0)
    server = Server(process, http, sip_port, (low, low + 98), log)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                up = http.get("/healthz").status_code == 200
                if up and (not sip or b"SIP on" in log.read_bytes()):
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"voxplane serve did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield server
    finally:
        http.close()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- sipp ------------------------------------------------------------------------------


def scenario(tmp: Path, name: str, **values: object) -> Path:
    """A scenario from ``scenarios/<name>.xml`` with its ``{{placeholders}}`` filled."""
    text = (SCENARIOS / f"{name}.xml").read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", str(value))
    assert "{{" not in text.split("-->", 1)[-1], "unfilled placeholder"
    path = tmp / f"{name}.xml"
    path.write_text(text)
    return path


def run_sipp(
    scenario_path: Path, server: Server, dialled: str, media_port: int, timeout_s: float = 90
) -> subprocess.CompletedProcess[str]:
    sipp = need("sipp")
    command = [
        sipp, f"127.0.0.1:{server.sip_port}", "-sf", str(scenario_path), "-s", dialled,
        "-i", "127.0.0.1", "-p", str(free_sip_port()), "-mp", str(media_port),
        "-m", "1", "-l", "1", "-nostdin", "-timeout", f"{int(timeout_s)}s",
        "-trace_err", "-error_file", str(scenario_path.with_suffix(".errors")),
    ]  # fmt: skip
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout_s + 15, check=False,
        cwd=scenario_path.parent,
    )  # fmt: skip


# --- tcpdump ---------------------------------------------------------------------------


@contextlib.contextmanager
def capture(path: Path, udp_filter: str) -> Iterator[Path]:
    """tcpdump on ``lo`` writing ``path`` while the block runs."""
    with pcap.capture(path, udp_filter, tcpdump=need("tcpdump")):
        yield path


@dataclass(frozen=True)
class Datagram:
    at: float
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


def read_pcap(path: Path) -> list[Datagram]:
    """IPv4/UDP datagrams of a pcap file."""
    out: list[Datagram] = []
    for at, ip in pcap.ipv4_packets(path):
        if ip[9] != 17:
            continue
        header = (ip[0] & 0x0F) * 4
        sport, dport, _, _ = struct.unpack_from("!HHHH", ip, header)
        src = (socket.inet_ntoa(ip[12:16]), sport)
        dst = (socket.inet_ntoa(ip[16:20]), dport)
        out.append(Datagram(at, src, dst, ip[header + 8 :]))
    return out


def rtp_packets(datagrams: list[Datagram], src_ports: range) -> list[tuple[float, RtpPacket]]:
    """The RTP packets sent from ``src_ports`` (RTCP on odd ports left out)."""
    packets = []
    for d in datagrams:
        if d.src[1] in src_ports and d.src[1] % 2 == 0:
            packets.append((d.at, RtpPacket.parse(d.payload)))
    return packets


def decode_ulaw_stream(
    packets: list[tuple[float, RtpPacket]], payload_type: int = 0
) -> np.ndarray[Any, Any]:
    """The agent's audio as PCM, placed by RTP timestamp (gaps become silence)."""
    audio = [p for _, p in packets if p.payload_type == payload_type]
    if not audio:
        return np.zeros(0, np.int16)
    base = audio[0].timestamp
    end = max((p.timestamp - base) % 2**32 + len(p.payload) for p in audio)
    out = np.zeros(end, np.int16)
    for p in audio:
        start = (p.timestamp - base) % 2**32
        out[start : start + len(p.payload)] = ulaw_decode(p.payload)
    return out


# --- a raw SIP client, for protocol edges sipp scenarios make awkward ---------------------


class SipClient:
    """A UDP SIP peer on loopback that sends what it is told and returns what it gets."""

    def __init__(self, server_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = ("127.0.0.1", server_port)
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.rtp_port = self.rtp.getsockname()[1]
        self.remote_rtp = 0
        """voxplane's RTP port for the call, from its SDP answer."""

    def close(self) -> None:
        self.sock.close()
        self.rtp.close()

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.server)

    def offer(self, codecs: str = "0 101", direction: str = "sendrecv") -> bytes:
        lines = [
            "v=0", "o=raw 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
            f"m=audio {self.rtp_port} RTP/AVP {codecs}",
            "a=rtpmap:0 PCMU/8000", "a=rtpmap:18 G729/8000", "a=rtpmap:101 telephone-event/8000",
            f"a={direction}",
        ]  # fmt: skip
        return ("\r\n".join(lines) + "\r\n").encode()

    def request(
        self,
        method: str,
        number: str,
        *,
        call_id: str,
        cseq: int,
        branch: str,
        to_tag: str = "",
        body: bytes = b"",
        extra: tuple[tuple[str, str], ...] = (),
    ) -> bytes:
        to = f"<sip:{number}@127.0.0.1:{self.server[1]}>" + (f";tag={to_tag}" if to_tag else "")
        headers = [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:+14155550123@127.0.0.1:{self.port}>;tag=caller{call_id[:6]}"),
            ("To", to),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} {'INVITE' if method == 'ACK' and not to_tag else method}"),
            ("Contact", f"<sip:+14155550123@127.0.0.1:{self.port}>"),
            *extra,
        ]
        if method == "ACK":
            headers[5] = ("CSeq", f"{cseq} ACK")
        if body:
            headers.append(("Content-Type", "application/sdp"))
        text = f"{method} sip:{number}@127.0.0.1:{self.server[1]} SIP/2.0\r\n"
        text += "".join(f"{k}: {v}\r\n" for k, v in headers)
        text += f"Content-Length: {len(body)}\r\n\r\n"
        data = text.encode() + body
        self.send(data)
        return data

    def receive_raw(self, timeout_s: float = 5.0) -> bytes | None:
        self.sock.settimeout(timeout_s)
        try:
            data, _ = self.sock.recvfrom(65535)
        except TimeoutError:
            return None
        return data

    def receive(self, timeout_s: float = 5.0) -> Any:
        """The next SIP message (parsed), or None after ``timeout_s``."""
        from voxplane.transports.sip.message import parse_message

        data = self.receive_raw(timeout_s)
        return None if data is None else parse_message(data)

    def final(self, timeout_s: float = 10.0) -> Any:
        """The next final response (provisional ones skipped), or None."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = self.receive(deadline - time.monotonic())
            if message is None:
                return None
            if getattr(message, "status", 0) >= 200:
                return message
        return None

    def rtp_count(self, seconds: float) -> int:
        """RTP packets arriving at our media port during ``seconds``."""
        count = 0
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.rtp.settimeout(left)
            try:
                self.rtp.recvfrom(2048)
            except TimeoutError:
                break
            count += 1
        return count


# --- baresip -----------------------------------------------------------------------------


@dataclass
class Baresip:
    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    def recordings(self, kind: str) -> list[Path]:
        """sndfile's dumps: ``dec`` is what baresip heard, ``enc`` what it sent."""
        return sorted(self.directory.glob(f"dump-*-{kind}.wav"))

    def log(self) -> str:
        return (self.directory / "baresip.log").read_text(errors="replace")


@contextlib.contextmanager
def run_baresip(
    directory: Path, speech_wav: Path, *, user: str = "bob", dial: str | None = None
) -> Iterator[Baresip]:
    """A headless baresip on loopback: plays ``speech_wav`` as its microphone, records what
    it hears (sndfile), answers calls at once; ``dial`` calls that URI at start."""
    binary = need("baresip")
    port = _free_pair()  # baresip also listens for TLS on the port above
    rtp = free_port(socket.SOCK_DGRAM) & ~1
    directory.mkdir(parents=True, exist_ok=True)
    config = f"""
poll_method epoll
sip_listen 127.0.0.1:{port}
audio_player aubridge,speaker
audio_source aufile,{speech_wav}
audio_alert aubridge,alert
audio_srate 8000
module_path /usr/lib/baresip/modules
module aufile.so
module aubridge.so
module g711.so
module sndfile.so
module menu.so
module account.so
snd_path {directory}
rtp_ports {rtp}-{rtp + 10}
"""
    (directory / "config").write_text(config)
    (directory / "accounts").write_text(
        f"<sip:{user}@127.0.0.1:{port}>;regint=0;answermode=auto;audio_codecs=PCMU\n"
    )
    command = [binary, "-f", str(directory)]
    if dial is not None:
        command += ["-e", f"/dial {dial}"]
    log = (directory / "baresip.log").open("wb")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=directory
    )
    try:
        deadline = time.monotonic() + 10
        while b"baresip is ready" not in (directory / "baresip.log").read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"baresip did not start:\n{(directory / 'baresip.log').read_text()}")
            time.sleep(0.1)
        yield Baresip(process, port, directory)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# --- sipp as the far end of a trunk ------------------------------------------------------


@dataclass
class SippUas:
    """A sipp UAS (or registrar) listening on ``port``; ``messages()`` is its trace."""

    process: subprocess.Popen[str]
    port: int
    media_port: int
    trace: Path

    def messages(self) -> str:
        """Every message sipp sent and received so far (``-trace_msg``)."""
        return self.trace.read_text(errors="replace") if self.trace.exists() else ""

    def received(self) -> list[str]:
        """The messages sipp received, as text (what voxplane sent toward the trunk)."""
        out = []
        for block in self.messages().split("-" * 47 + " ")[1:]:
            lines = block.split("\n")  # a timestamp, "UDP message received [n] bytes :", …
            if len(lines) > 2 and "message received" in lines[1]:
                out.append("\n".join(lines[2:]).strip())
        return out

    def wait(self, timeout_s: float = 60.0) -> int:
        """sipp's exit status once its scenario has run (0: every call succeeded)."""
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"sipp did not finish its scenario:\n{self.messages()[-3000:]}")


@contextlib.contextmanager
def sipp_uas(
    scenario_path: Path, *, calls: int = 1, echo: bool = False, timeout_s: float = 60
) -> Iterator[SippUas]:
    """sipp running ``scenario_path`` as a server on a free loopback port (for
    ``calls`` calls; ``echo``: RTP arriving at its media port goes back to its sender)."""
    port, media = free_sip_port(), free_port(socket.SOCK_DGRAM) & ~1
    trace = scenario_path.with_name(f"{scenario_path.stem}_messages.log")
    command = [
        need("sipp"), "-sf", str(scenario_path), "-i", "127.0.0.1", "-p", str(port),
        "-mp", str(media), "-m", str(calls), "-nostdin", "-timeout", f"{int(timeout_s)}s",
        "-trace_msg", "-message_file", str(trace),
        "-trace_err", "-error_file", str(scenario_path.with_suffix(".errors")),
        *(["-rtp_echo"] if echo else []),
    ]  # fmt: skip
    output = scenario_path.with_suffix(".out")
    with output.open("w") as sink:
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=sink, text=True, cwd=scenario_path.parent
        )
    time.sleep(0.3)  # sipp binds its socket at start
    if process.poll() is not None:
        pytest.fail(f"sipp did not start (exit {process.returncode}): {output.read_text()}")
    try:
        yield SippUas(process, port, media, trace)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
