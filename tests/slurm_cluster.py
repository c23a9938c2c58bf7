"""A private single-node Slurm cluster from the distribution's packages (slurm-wlm, munge).

Started by hand, without systemd or slurmdbd, on free ports, with its own munge socket and key
and its state in a temporary directory; every daemon runs in the foreground as a child of the
test and is stopped by its PID. Needs root (slurmd starts jobs as their user). The generated
slurm.conf goes where every Slurm command finds it, /etc/slurm/slurm.conf, and is removed at
the end: Snakemake's job step drops SLURM_CONF from the environment of the `srun` it runs
inside each job (snakemake-executor-plugin-slurm-jobstep 0.6), so a configuration elsewhere
would not reach it. A machine with its own slurm.conf is left alone (the test skips).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "srun")
SLURM_CONF = Path("/etc/slurm/slurm.conf")
REPO = Path(__file__).resolve().parents[1]


def unavailable_reason() -> str | None:
    """Why this machine cannot run the test cluster, or None when it can."""
    if os.name != "posix" or os.geteuid() != 0:
        return "needs root (slurmd starts the jobs)"
    if SLURM_CONF.exists():
        return f"{SLURM_CONF} exists (a real Slurm installation; the test cluster would replace its configuration)"
    missing = [name for name in DAEMONS + CLIENTS if shutil.which(name) is None]
    if missing:
        return f"Slurm or munge not installed (missing {', '.join(missing)}; apt-get install slurm-wlm munge)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SlurmCluster:
    """One controller and one node (all this machine's cores) with one partition."""

    root: Path
    partition: str = "main"
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def jobcomp(self) -> Path:
        """One line per finished job (jobcomp/filetxt): the record of what ran through Slurm."""
        return self.root / "jobcomp.txt"

    def write_config(self) -> None:
        SLURM_CONF.parent.mkdir(exist_ok=True)
        for sub in ("state", "spool", "munge"):
            (self.root / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        host = socket.gethostname().split(".")[0]
        SLURM_CONF.write_text(
            "\n".join(
                [
                    "ClusterName=colliderflow-test",
                    f"SlurmctldHost={host}(127.0.0.1)",
                    f"SlurmctldPort={free_port()}",
                    f"SlurmdPort={free_port()}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    f"AuthInfo=socket={self.root / 'munge' / 'socket'}",
                    f"StateSaveLocation={self.root / 'state'}",
                    f"SlurmdSpoolDir={self.root / 'spool'}",
                    f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
                    f"SlurmdPidFile={self.root / 'slurmd.pid'}",
                    f"SlurmctldLogFile={self.root / 'slurmctld.log'}",
                    f"SlurmdLogFile={self.root / 'slurmd.log'}",
                    "MpiDefault=none",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "JobCompType=jobcomp/filetxt",
                    f"JobCompLoc={self.jobcomp}",
                    # no slurmdbd: finished jobs are known to squeue only for MinJobAge seconds,
                    # which must outlast the plugin's status checks
                    "MinJobAge=600",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core",
                    "ReturnToService=2",
                    # the node's CPUs and memory as declared here, not as measured: jobs ask for
                    # up to 8 GB, which a small CI machine may not have (memory is not consumable)
                    "SlurmdParameters=config_overrides",
                    f"NodeName=testnode NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory=64000 State=UNKNOWN",
                    f"PartitionName={self.partition} Nodes=testnode Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )

    def start(self) -> None:
        self.write_config()
        munge = self.root / "munge"
        key = munge / "munge.key"
        subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True, capture_output=True)
        self._spawn(
            ["munged", "--foreground", "--force", f"--socket={munge / 'socket'}", f"--key-file={key}",
             f"--pid-file={munge / 'munged.pid'}", f"--log-file={munge / 'munged.log'}",
             f"--seed-file={munge / 'munged.seed'}"],
            ready=lambda: (munge / "socket").exists(),
        )
        self._spawn(["slurmctld", "-D", "-i"], ready=self._controller_answers)
        self._spawn(["slurmd", "-D", "-N", "testnode"], ready=self._node_idle)

    def _spawn(self, command: list[str], ready) -> None:
        log = open(self.root / f"{command[0]}.out", "w")
        self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 60
        while not ready():
            if self.processes[-1].poll() is not None:
                raise RuntimeError(f"{command[0]} exited at start-up:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} not ready after 60 s:\n{self.logs()}")
            time.sleep(0.5)

    def _controller_answers(self) -> bool:
        return subprocess.run(["sinfo"], capture_output=True).returncode == 0

    def _node_idle(self) -> bool:
        state = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True)
        return state.stdout.strip() == "idle"

    def finished_jobs(self) -> list[dict[str, str]]:
        """Every finished job as jobcomp/filetxt records it (JobId, JobName, JobState, ...)."""
        if not self.jobcomp.exists():
            return []
        return [dict(item.split("=", 1) for item in line.split() if "=" in item)
                for line in self.jobcomp.read_text().splitlines() if line.strip()]

    def logs(self) -> str:
        """The daemons' states and the tails of their logs, for a failure message."""
        states = [f"{process.args[0]} (pid {process.pid}): "
                  + ("running" if process.poll() is None else f"exited {process.returncode}")
                  for process in self.processes]
        return "\n".join(states + [f"--- {path.name}\n{path.read_text()[-3000:]}"
                                   for path in sorted(self.root.rglob("*.log")) + sorted(self.root.glob("*.out"))])

    def stop(self) -> None:
        """Cancel the jobs left (a failed test), then stop the daemons started here by PID."""
        if self.processes:
            subprocess.run(["scancel", "--partition", self.partition], capture_output=True)
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        SLURM_CONF.unlink(missing_ok=True)


def site_profile(directory: Path, partition: str) -> Path:
    """profiles/slurm as a user adapts it: their partition, nothing else."""
    settings = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    settings["default-resources"]["slurm_partition"] = partition
    directory.mkdir()
    (directory / "config.yaml").write_text(yaml.safe_dump(settings))
    return directory


# What a cluster without slurmdbd needs on the command line: job status from squeue.
SLURM_WITHOUT_ACCOUNTING = ("--slurm-status-command", "squeue")
