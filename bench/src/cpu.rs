//! Where the machine's CPU went during a scenario's load (Linux, from /proc): the
//! server's process, every PostgreSQL process on this machine (with the backends that
//! ended meanwhile, which their postmaster reaped), this load generator, and what was
//! left idle: who a scenario's cost falls on. The figures drift with the machine's own
//! speed as req/s does; one process's figure over another's in the same run drifts less.

use std::time::Duration;

/// CPU seconds used so far, by whom.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    server: f64,
    postgres: f64,
    generator: f64,
    idle: f64,
}

/// Ticks per second of /proc's counters (`getconf CLK_TCK`; 100 on every Linux build
/// that matters).
const TICKS: f64 = 100.0;

impl Sample {
    /// The CPU used so far; `None` off Linux or when the server's process is gone.
    pub fn now(server_pid: u32) -> Option<Sample> {
        let server = process_seconds(
            &std::fs::read_to_string(format!("/proc/{server_pid}/stat")).ok()?,
            false,
        )?;
        let generator = process_seconds(&std::fs::read_to_string("/proc/self/stat").ok()?, false)?;
        let idle = idle_seconds(&std::fs::read_to_string("/proc/stat").ok()?)?;
        Some(Sample {
            server,
            postgres: postgres_seconds(),
            generator,
            idle,
        })
    }

    /// A note on the CPU spent per request between `self` and `later`.
    pub fn note(&self, later: &Sample, requests: usize, elapsed: Duration) -> String {
        let per_request = |a: f64, b: f64| (b - a) * 1000.0 / requests.max(1) as f64;
        let mut parts = vec![format!("server {:.2} ms", per_request(self.server, later.server))];
        if later.postgres > self.postgres {
            parts.push(format!(
                "PostgreSQL {:.2} ms",
                per_request(self.postgres, later.postgres)
            ));
        }
        parts.push(format!(
            "load generator {:.2} ms",
            per_request(self.generator, later.generator)
        ));
        format!(
            "CPU per request: {}; idle {:.2} cores",
            parts.join(", "),
            (later.idle - self.idle) / elapsed.as_secs_f64()
        )
    }
}

/// utime + stime of a /proc/PID/stat line, and the reaped children's too when asked.
fn process_seconds(stat: &str, with_children: bool) -> Option<f64> {
    // The command name may hold spaces and parentheses: the fields follow the last ')'.
    // utime and stime are its 12th and 13th fields, cutime and cstime the next two.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    let last = if with_children { 15 } else { 13 };
    let ticks = fields
        .get(11..last)?
        .iter()
        .map(|f| f.parse::<u64>().ok())
        .sum::<Option<u64>>()?;
    Some(ticks as f64 / TICKS)
}

fn command_name(stat: &str) -> Option<&str> {
    stat.get(stat.find('(')? + 1..stat.rfind(')')?)
}

/// All PostgreSQL processes' CPU, with their reaped children's (backends that ended).
fn postgres_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| command_name(stat).is_some_and(|c| c.starts_with("postgres")))
        .filter_map(|stat| process_seconds(&stat, true))
        .sum()
}

/// Idle time of all cores, from /proc/stat's first line (`cpu user nice system idle …`).
fn idle_seconds(stat: &str) -> Option<f64> {
    let line = stat.lines().next()?;
    let idle: u64 = line.split_whitespace().nth(4)?.parse().ok()?;
    Some(idle as f64 / TICKS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_with_parentheses_in_its_name_is_read_after_the_last() {
        let stat = "42 (post (gres)) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0 5 0 0";
        assert_eq!(command_name(stat), Some("post (gres)"));
        assert_eq!(process_seconds(stat, false), Some(3.0));
        assert_eq!(process_seconds(stat, true), Some(3.1));
        assert_eq!(process_seconds("garbage", false), None);
    }

    #[test]
    fn idle_is_the_fourth_counter_of_the_cpu_line() {
        assert_eq!(idle_seconds("cpu  10 0 20 500 3 0 0 0 0 0\ncpu0 5 0 10 250"), Some(5.0));
        assert_eq!(idle_seconds(""), None);
    }

    #[test]
    fn the_note_divides_by_requests_and_leaves_out_an_absent_postgres() {
        let before = Sample::default();
        let after = Sample {
            server: 1.0,
            postgres: 0.0,
            generator: 0.5,
            idle: 2.0,
        };
        assert_eq!(
            before.note(&after, 1000, Duration::from_secs(10)),
            "CPU per request: server 1.00 ms, load generator 0.50 ms; idle 0.20 cores"
        );
        let with_postgres = Sample { postgres: 3.0, ..after };
        assert!(before
            .note(&with_postgres, 1000, Duration::from_secs(10))
            .contains("PostgreSQL 3.00 ms"));
    }

    #[test]
    fn this_process_has_a_sample_on_linux() {
        if cfg!(target_os = "linux") {
            let sample = Sample::now(std::process::id()).expect("a sample of this process");
            assert!(sample.server >= 0.0 && sample.idle > 0.0);
        }
    }
}
