//! `bayou serve` as a child process on a free port: started, its addresses read from the lines
//! it prints on stdout (Bayeux, then the Pub/Sub API), killed (SIGKILL) when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct ServeProcess {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    /// The Pub/Sub API, `https://127.0.0.1:PORT` (`None` with `--pubsub-listen off`).
    pub pubsub: Option<String>,
}

impl ServeProcess {
    /// `bayou serve --listen 127.0.0.1:0 --log warn --data-dir DATA_DIR ARGS…`; with `env`,
    /// the child gets only those variables.
    pub fn start(data_dir: &Path, args: &[&str], env: Option<&[(&str, &str)]>) -> Self {
        Self::start_with(
            Command::new(env!("CARGO_BIN_EXE_bayou")),
            data_dir,
            args,
            env,
        )
    }

    /// Like [`start`](Self::start), at a scheduling priority above the test process's own
    /// (`nice -n -10`, which takes root; without it, `nice` warns and starts the server at the
    /// default priority): for a test whose attackers run in this process on
    /// the same two cores, so that what it measures is the server's responsiveness, not how
    /// much CPU the attack traffic took from it. A real attacker's CPU is not the server's.
    pub fn start_ahead_of_attackers(
        data_dir: &Path,
        args: &[&str],
        env: Option<&[(&str, &str)]>,
    ) -> Self {
        let mut nice = Command::new("/usr/bin/nice");
        nice.args(["-n", "-10", env!("CARGO_BIN_EXE_bayou")]);
        Self::start_with(nice, data_dir, args, env)
    }

    fn start_with(
        mut command: Command,
        data_dir: &Path,
        args: &[&str],
        env: Option<&[(&str, &str)]>,
    ) -> Self {
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--log", "warn"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(env) = env {
            command.env_clear().envs(env.iter().copied());
        }
        let mut child = command.spawn().expect("start bayou serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout);
        let mut line = String::new();
        lines.read_line(&mut line).expect("first line");
        let origin = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        let pubsub = if args.contains(&"off") {
            None
        } else {
            line.clear();
            lines.read_line(&mut line).expect("second line");
            let address = line.trim().strip_prefix("pubsub listening on ");
            Some(
                address
                    .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
                    .to_owned(),
            )
        };
        Self {
            child,
            origin,
            pubsub,
        }
    }

    /// The Bayeux endpoint.
    pub fn bayeux_url(&self) -> String {
        format!("{}/cometd/66.0", self.origin)
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
