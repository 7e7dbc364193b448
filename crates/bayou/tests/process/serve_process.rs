//! `bayou serve` as a child process on a free port: started, its address read from the one
//! line it prints on stdout, killed (SIGKILL) when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct ServeProcess {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
}

impl ServeProcess {
    /// `bayou serve --listen 127.0.0.1:0 --log warn --data-dir DATA_DIR ARGS…`; with `env`,
    /// the child gets only those variables.
    pub fn start(data_dir: &Path, args: &[&str], env: Option<&[(&str, &str)]>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_bayou"));
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
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("first line");
        let origin = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, origin }
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
