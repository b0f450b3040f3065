//! `cargo xtask fuzz [--seconds N] [--target NAME] [--jobs J] [--max-files K]`:
//! runs the real coverage-guided fuzzer on every target of every fuzz
//! project (`crates/*/fuzz/`, cargo-fuzz projects), keeps a small minimised
//! corpus in the repository, and reports the figures per target.
//!
//! - The stable toolchain has no sanitizer support, so the targets are built
//!   with `cargo fuzz build -s none` (see `crates/adu-model/fuzz/README.md`)
//!   and `RUSTFLAGS=-Cllvm-args=-max-loads-per-memcmp=0`, then each binary runs
//!   for N seconds reading the committed corpus (`corpus/<target>/`) and a
//!   working corpus under the target directory (`fuzz-corpus/<target>/`),
//!   where libFuzzer writes what it finds. `--jobs 2` runs two targets at once.
//! - Minimising: libFuzzer's `-set_cover_merge=1` reduces the seeds plus the
//!   working corpus to a set covering every feature reached (that becomes the
//!   next working corpus), and its control file lists every input's features.
//!   That set is still hundreds to thousands of inputs, too many to commit, so
//!   the committed corpus is the hand-written seeds (kept as they are) plus
//!   the inputs a greedy maximum-coverage choice over those feature lists
//!   picks, up to `--max-files` per target (250 by default) and only inputs of
//!   at most 4 KiB: each pick is the input adding the most features not yet
//!   covered. The picks are named by their SHA-1 (as libFuzzer names them) and
//!   replace the previous picks; the report says what share of the features
//!   the committed corpus reaches.
//! - At the end a table gives, per target, libFuzzer's executions, coverage
//!   (`cov`), features (`ft`), executions per second and crashes, and the
//!   committed corpus; a run of every target also writes that table into
//!   `docs/reliability.md` between the `fuzz-table` markers.

use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::util::{cargo, project_root, run as sh, stdout_of};

/// Restores the constants of short comparisons that LLVM would otherwise
/// inline out of libFuzzer's sight (see the toolchain notes).
const RUSTFLAGS: &str = "-Cllvm-args=-max-loads-per-memcmp=0";

/// The largest input the committed corpus keeps.
const MAX_KEPT_INPUT: u64 = 4096;

/// Where a run of every target writes its table.
const REPORT: &str = "docs/reliability.md";
const TABLE_START: &str = "<!-- fuzz-table:start -->";
const TABLE_END: &str = "<!-- fuzz-table:end -->";

/// libFuzzer's figures from a run's final `#N DONE cov: X ft: Y ...` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Figures {
    executions: u64,
    coverage: u64,
    features: u64,
    exec_per_second: Option<u64>,
}

/// One fuzz target of one project.
#[derive(Debug, Clone)]
struct Job {
    /// `crates/<crate>/fuzz`, relative to the root.
    project: String,
    target: String,
}

/// What the committed corpus holds after minimising.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Kept {
    files: usize,
    bytes: u64,
    features_kept: usize,
    features_total: usize,
}

#[derive(Debug)]
struct Outcome {
    job: Job,
    figures: Option<Figures>,
    crashes: Vec<PathBuf>,
    kept: Option<Kept>,
    error: Option<String>,
}

struct Options {
    seconds: u64,
    only: Option<String>,
    jobs: usize,
    max_files: usize,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        seconds: 60,
        only: None,
        jobs: 1,
        max_files: 250,
    };
    let mut args = args.iter();
    let positive = |name: &str, value: Option<&String>| -> Result<u64, String> {
        let value = value.ok_or_else(|| format!("`{name}` needs a number"))?;
        value
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`{name} {value}`: expected a positive number"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => options.seconds = positive("--seconds", args.next())?,
            "--jobs" => options.jobs = positive("--jobs", args.next())? as usize,
            "--max-files" => options.max_files = positive("--max-files", args.next())? as usize,
            "--target" => {
                options.only = Some(args.next().ok_or("`--target` needs a name")?.clone());
            }
            other => return Err(unknown_argument(other)),
        }
    }
    Ok(options)
}

pub fn run(args: &[String]) -> Result<(), String> {
    let options = parse_args(args)?;
    ensure_cargo_fuzz()?;
    let root = project_root();
    let target_dir = fuzz_target_dir();
    let projects = fuzz_projects(&root)?;

    let mut jobs = Vec::new();
    for project in &projects {
        for target in list_targets(&root.join(project))? {
            jobs.push(Job {
                project: project.clone(),
                target,
            });
        }
    }
    let all: Vec<String> = jobs.iter().map(|j| j.target.clone()).collect();
    if let Some(name) = &options.only {
        jobs.retain(|j| &j.target == name);
        if jobs.is_empty() {
            return Err(format!(
                "no fuzz target `{name}`; the targets are: {}",
                all.join(", ")
            ));
        }
    }
    for project in &projects {
        if jobs.iter().any(|j| &j.project == project) {
            sh(cargo()
                .args(["fuzz", "build", "-s", "none"])
                .current_dir(root.join(project))
                .env("CARGO_TARGET_DIR", &target_dir)
                .env("RUSTFLAGS", RUSTFLAGS))?;
        }
    }
    let bin_dir = target_dir.join(host_triple()?).join("release");

    let started = Instant::now();
    let queue = Arc::new(Mutex::new(jobs.iter().cloned().collect::<VecDeque<_>>()));
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..options.jobs.min(jobs.len()))
        .map(|_| {
            let queue = queue.clone();
            let outcomes = outcomes.clone();
            let (root, target_dir, bin_dir) = (root.clone(), target_dir.clone(), bin_dir.clone());
            let (seconds, max_files) = (options.seconds, options.max_files);
            std::thread::spawn(move || loop {
                let Some(job) = queue.lock().expect("queue").pop_front() else {
                    break;
                };
                let outcome = run_job(&root, &target_dir, &bin_dir, job, seconds, max_files);
                outcomes.lock().expect("outcomes").push(outcome);
            })
        })
        .collect();
    for worker in workers {
        worker
            .join()
            .map_err(|_| "a fuzzing worker panicked".to_owned())?;
    }
    let mut outcomes = std::mem::take(&mut *outcomes.lock().expect("outcomes"));
    outcomes.sort_by_key(|o| {
        jobs.iter()
            .position(|j| j.target == o.job.target)
            .unwrap_or(usize::MAX)
    });

    let table = table(&outcomes, options.seconds);
    println!(
        "fuzzing finished: {} targets, {} s each, {} at a time, {} s in all\n\n{table}",
        outcomes.len(),
        options.seconds,
        options.jobs,
        started.elapsed().as_secs()
    );
    if options.only.is_none() {
        write_report(&root.join(REPORT), &table, &options)?;
    }

    let mut problems = Vec::new();
    for o in &outcomes {
        if let Some(e) = &o.error {
            problems.push(format!("{}: {e}", o.job.target));
        }
        for crash in &o.crashes {
            problems.push(format!(
                "{}: crash saved as {} (reproduce: `cd {} && cargo fuzz run -s none {} {}`; shrink with `cargo fuzz tmin -s none {} <file>`)",
                o.job.target,
                crash.display(),
                o.job.project,
                o.job.target,
                crash.display(),
                o.job.target
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn unknown_argument(arg: &str) -> String {
    format!(
        "unknown argument `{arg}`; usage: cargo xtask fuzz [--seconds N] [--target NAME] [--jobs J] [--max-files K]"
    )
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    let installed = cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if installed {
        return Ok(());
    }
    eprintln!("cargo-fuzz is not installed; installing it (about a minute)");
    sh(cargo().args(["install", "cargo-fuzz", "--locked"]))
}

/// `CARGO_TARGET_DIR` if set, else `target/fuzz/`, absolute. Every fuzz
/// project builds there, so the binaries are found in one place.
fn fuzz_target_dir() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/fuzz"));
    if dir.is_absolute() {
        dir
    } else {
        project_root().join(dir)
    }
}

/// The cargo-fuzz projects: `crates/*/fuzz/` whose manifest says `cargo-fuzz = true`.
fn fuzz_projects(root: &Path) -> Result<Vec<String>, String> {
    let crates = root.join("crates");
    let mut projects = Vec::new();
    let entries =
        fs::read_dir(&crates).map_err(|e| format!("cannot read {}: {e}", crates.display()))?;
    for entry in entries.flatten() {
        let manifest = entry.path().join("fuzz/Cargo.toml");
        if fs::read_to_string(&manifest).is_ok_and(|m| m.contains("cargo-fuzz = true")) {
            projects.push(format!(
                "crates/{}/fuzz",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    projects.sort();
    if projects.is_empty() {
        return Err("no cargo-fuzz project under crates/*/fuzz".to_owned());
    }
    Ok(projects)
}

fn host_triple() -> Result<String, String> {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("could not run `rustc -vV`: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "`rustc -vV` printed no host".to_owned())
}

fn list_targets(fuzz_dir: &Path) -> Result<Vec<String>, String> {
    let output = stdout_of(cargo().args(["fuzz", "list"]).current_dir(fuzz_dir))
        .map_err(|e| format!("in {}: {e}", fuzz_dir.display()))?;
    let targets: Vec<String> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if targets.is_empty() {
        return Err(format!("no fuzz targets in {}", fuzz_dir.display()));
    }
    Ok(targets)
}

fn dictionary(fuzz_dir: &Path) -> Option<PathBuf> {
    let mut dicts: Vec<PathBuf> = fs::read_dir(fuzz_dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "dict"))
        .collect();
    dicts.sort();
    dicts.into_iter().next()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn run_job(
    root: &Path,
    target_dir: &Path,
    bin_dir: &Path,
    job: Job,
    seconds: u64,
    max_files: usize,
) -> Outcome {
    let mut outcome = Outcome {
        job: job.clone(),
        figures: None,
        crashes: Vec::new(),
        kept: None,
        error: None,
    };
    let fuzz_dir = root.join(&job.project);
    let binary = bin_dir.join(&job.target);
    let work = target_dir.join("fuzz-corpus").join(&job.target);
    let seeds = fuzz_dir.join("corpus").join(&job.target);
    let artifacts = fuzz_dir.join("artifacts").join(&job.target);
    let logs = target_dir.join("fuzz-logs");
    for dir in [&work, &seeds, &artifacts, &logs] {
        if let Err(e) = fs::create_dir_all(dir) {
            outcome.error = Some(format!("cannot create {}: {e}", dir.display()));
            return outcome;
        }
    }
    let before: HashSet<PathBuf> = files_in(&artifacts).into_iter().collect();
    let log = logs.join(format!("{}.log", job.target));

    let mut cmd = Command::new(&binary);
    cmd.arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1")
        .arg("-timeout=30")
        .arg(format!("-artifact_prefix={}/", artifacts.display()));
    if let Some(dict) = dictionary(&fuzz_dir) {
        cmd.arg(format!("-dict={}", dict.display()));
    }
    // libFuzzer writes new inputs to the first corpus directory only.
    cmd.arg(&work).arg(&seeds).current_dir(&fuzz_dir);
    eprintln!(
        "[{}] $ (in {}) {} ... ; log: {}",
        job.target,
        job.project,
        display(&cmd),
        log.display()
    );
    let status =
        fs::File::create(&log).and_then(|file| cmd.stdout(Stdio::null()).stderr(file).status());
    let text = fs::read_to_string(&log).unwrap_or_default();
    outcome.figures = text.lines().rev().find_map(parse_done_line);
    outcome.crashes = files_in(&artifacts)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    match status {
        Err(e) => {
            outcome.error = Some(format!("could not run {}: {e}", binary.display()));
            return outcome;
        }
        Ok(s) if !s.success() && outcome.crashes.is_empty() => {
            outcome.error = Some(format!("the fuzzer failed with {s}; see {}", log.display()));
        }
        Ok(_) => {}
    }
    if outcome.figures.is_none() {
        // A crash ends the run before the final line: take the last status line.
        outcome.figures = text.lines().rev().find_map(parse_status_line);
    }
    eprintln!(
        "[{}] done: {}",
        job.target,
        outcome
            .figures
            .as_ref()
            .map(|f| format!(
                "{} executions, cov {}, ft {}",
                f.executions, f.coverage, f.features
            ))
            .unwrap_or_else(|| "no figures".to_owned())
    );
    match minimise(
        &binary,
        &fuzz_dir,
        target_dir,
        &job.target,
        &work,
        &seeds,
        max_files,
    ) {
        Ok(kept) => outcome.kept = Some(kept),
        Err(e) => {
            let previous = outcome.error.take();
            outcome.error = Some(previous.map_or(e.clone(), |p| format!("{p}; {e}")));
        }
    }
    outcome
}

fn display(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// A file the fuzzer found (named by its SHA-1), as opposed to a hand-written seed.
fn is_found_input(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.len() == 40 && n.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Set-cover merge of seeds and working corpus (the result becomes the
/// working corpus), then the committed corpus: seeds plus the greedy picks.
fn minimise(
    binary: &Path,
    fuzz_dir: &Path,
    target_dir: &Path,
    target: &str,
    work: &Path,
    seeds: &Path,
    max_files: usize,
) -> Result<Kept, String> {
    let merge_dir = target_dir.join("fuzz-merge");
    let out = merge_dir.join(target);
    let control = merge_dir.join(format!("{target}.control"));
    let _ = fs::remove_dir_all(&out);
    let _ = fs::remove_file(&control);
    fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let log = target_dir
        .join("fuzz-logs")
        .join(format!("{target}.merge.log"));
    let file =
        fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let status = Command::new(binary)
        .arg("-set_cover_merge=1")
        .arg(format!("-merge_control_file={}", control.display()))
        .arg("-timeout=30")
        .arg(&out)
        .arg(seeds)
        .arg(work)
        .current_dir(fuzz_dir)
        .stdout(Stdio::null())
        .stderr(file)
        .status()
        .map_err(|e| format!("could not run the merge: {e}"))?;
    if !status.success() {
        return Err(format!(
            "the corpus merge failed with {status}; see {}",
            log.display()
        ));
    }
    let text = fs::read_to_string(&control)
        .map_err(|e| format!("cannot read {}: {e}", control.display()))?;
    let inputs = parse_control_file(&text);

    let mut candidates = Vec::new();
    let mut forced = Vec::new();
    let mut seen = HashSet::new();
    for (path, features) in inputs {
        let Some(name) = path.file_name().map(|n| n.to_owned()) else {
            continue;
        };
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(u64::MAX);
        if path.starts_with(seeds) && !is_found_input(&path) {
            forced.push(features);
        } else if size <= MAX_KEPT_INPUT && seen.insert(name) {
            candidates.push(Candidate {
                path,
                size,
                features,
            });
        }
    }
    // Every hand-written seed stays, even one libFuzzer skipped (an empty file).
    let seed_files = files_in(seeds)
        .iter()
        .filter(|p| !is_found_input(p))
        .count();
    let budget = max_files.saturating_sub(seed_files.max(forced.len()));
    let (picked, kept_features, total_features) = greedy_cover(&forced, &candidates, budget);
    let mut picks = Vec::new();
    for &i in &picked {
        let from = &candidates[i].path;
        let bytes = fs::read(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
        picks.push((from.file_name().expect("a file name").to_owned(), bytes));
    }

    // The merged set is the next working corpus.
    fs::remove_dir_all(work).map_err(|e| format!("cannot replace {}: {e}", work.display()))?;
    fs::rename(&out, work).map_err(|e| format!("cannot replace {}: {e}", work.display()))?;

    // Replace the previous picks with the new ones; the seeds stay.
    for old in files_in(seeds).into_iter().filter(|p| is_found_input(p)) {
        fs::remove_file(&old).map_err(|e| format!("cannot remove {}: {e}", old.display()))?;
    }
    for (name, bytes) in picks {
        let to = seeds.join(name);
        fs::write(&to, bytes).map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    }
    let files = files_in(seeds);
    Ok(Kept {
        files: files.len(),
        bytes: files
            .iter()
            .filter_map(|p| fs::metadata(p).ok())
            .map(|m| m.len())
            .sum(),
        features_kept: kept_features,
        features_total: total_features,
    })
}

#[derive(Debug, Clone)]
struct Candidate {
    path: PathBuf,
    size: u64,
    features: Vec<u32>,
}

/// Reads a libFuzzer merge control file: the input paths, then per input
/// `FT <index> <feature>...` (with `-set_cover_merge=1`, every feature the
/// input reaches). Inputs without an `FT` line (they crashed or timed out)
/// are left out.
fn parse_control_file(text: &str) -> Vec<(PathBuf, Vec<u32>)> {
    let mut lines = text.lines();
    let Some(count) = lines.next().and_then(|l| l.trim().parse::<usize>().ok()) else {
        return Vec::new();
    };
    let _first_corpus = lines.next();
    let paths: Vec<PathBuf> = lines.by_ref().take(count).map(PathBuf::from).collect();
    let mut features: HashMap<usize, Vec<u32>> = HashMap::new();
    for line in lines {
        let mut words = line.split_whitespace();
        if words.next() != Some("FT") {
            continue;
        }
        let Some(index) = words.next().and_then(|w| w.parse::<usize>().ok()) else {
            continue;
        };
        features.insert(index, words.filter_map(|w| w.parse().ok()).collect());
    }
    paths
        .into_iter()
        .enumerate()
        .filter_map(|(i, path)| features.remove(&i).map(|f| (path, f)))
        .collect()
}

/// Greedy maximum coverage: starting from the features of `forced`, picks
/// up to `budget` candidates, each time the one adding the most features
/// not yet covered (the smaller on a tie), until none adds any. Lazy: a
/// candidate's gain only shrinks, so a stale gain is recomputed when it
/// reaches the top. Returns the picks, the features covered and the
/// features reachable by everything.
fn greedy_cover(
    forced: &[Vec<u32>],
    candidates: &[Candidate],
    budget: usize,
) -> (Vec<usize>, usize, usize) {
    let mut covered: HashSet<u32> = forced.iter().flatten().copied().collect();
    let total: HashSet<u32> = covered
        .iter()
        .copied()
        .chain(candidates.iter().flat_map(|c| c.features.iter().copied()))
        .collect();
    let gain = |c: &Candidate, covered: &HashSet<u32>| {
        c.features.iter().filter(|f| !covered.contains(f)).count()
    };
    let mut heap: BinaryHeap<(usize, std::cmp::Reverse<u64>, usize)> = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| (gain(c, &covered), std::cmp::Reverse(c.size), i))
        .filter(|(g, _, _)| *g > 0)
        .collect();
    let mut picked = Vec::new();
    while picked.len() < budget {
        let Some((stale, size, i)) = heap.pop() else {
            break;
        };
        let fresh = gain(&candidates[i], &covered);
        if fresh == 0 {
            continue;
        }
        if fresh < stale {
            heap.push((fresh, size, i));
            continue;
        }
        covered.extend(candidates[i].features.iter().copied());
        picked.push(i);
    }
    (picked, covered.len(), total.len())
}

/// The Markdown table of the outcomes.
fn table(outcomes: &[Outcome], seconds: u64) -> String {
    let mut t = String::from(
        "| target | crate | seconds | executions | exec/s | coverage (cov) | features (ft) | crashes | committed corpus | features the committed corpus reaches |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for o in outcomes {
        let krate = o
            .job
            .project
            .trim_start_matches("crates/")
            .trim_end_matches("/fuzz");
        let (executions, rate, cov, ft) = match &o.figures {
            Some(f) => (
                f.executions.to_string(),
                f.exec_per_second
                    .map_or_else(|| "–".to_owned(), |r| r.to_string()),
                f.coverage.to_string(),
                f.features.to_string(),
            ),
            None => ("–".into(), "–".into(), "–".into(), "–".into()),
        };
        let (corpus, share) = match &o.kept {
            Some(k) => (
                format!("{} files, {:.1} KiB", k.files, k.bytes as f64 / 1024.0),
                format!(
                    "{} of {} ({:.0}%)",
                    k.features_kept,
                    k.features_total,
                    100.0 * k.features_kept as f64 / k.features_total.max(1) as f64
                ),
            ),
            None => ("–".into(), "–".into()),
        };
        t.push_str(&format!(
            "| `{}` | {krate} | {seconds} | {executions} | {rate} | {cov} | {ft} | {} | {corpus} | {share} |\n",
            o.job.target,
            o.crashes.len()
        ));
    }
    t
}

/// Replaces the table between the markers of `docs/reliability.md` (when
/// the file and the markers exist).
fn write_report(path: &Path, table: &str, options: &Options) -> Result<(), String> {
    let Ok(text) = fs::read_to_string(path) else {
        eprintln!(
            "{} does not exist: the table is not written",
            path.display()
        );
        return Ok(());
    };
    let (Some(start), Some(end)) = (text.find(TABLE_START), text.find(TABLE_END)) else {
        eprintln!(
            "{} has no `{TABLE_START}` … `{TABLE_END}` markers: the table is not written",
            path.display()
        );
        return Ok(());
    };
    if end < start {
        return Err(format!(
            "{}: the fuzz-table markers are out of order",
            path.display()
        ));
    }
    let block = format!(
        "{TABLE_START}\nMeasured by `cargo xtask fuzz --seconds {} --jobs {}` ({} targets at a time on this machine).\n\n{table}{TABLE_END}",
        options.seconds, options.jobs, options.jobs
    );
    let updated = format!(
        "{}{block}{}",
        &text[..start],
        &text[end + TABLE_END.len()..]
    );
    fs::write(path, updated).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("wrote the table into {}", path.display());
    Ok(())
}

/// Parses libFuzzer's `#1234 DONE   cov: 56 ft: 78 corp: 9/10b ... exec/s: 11 rss: 12Mb`.
fn parse_done_line(line: &str) -> Option<Figures> {
    parse_line(line, |event| event == "DONE")
}

/// Parses any of libFuzzer's status lines (`NEW`, `REDUCE`, `pulse`, `DONE`...).
fn parse_status_line(line: &str) -> Option<Figures> {
    parse_line(line, |_| true)
}

fn parse_line(line: &str, event: impl Fn(&str) -> bool) -> Option<Figures> {
    let rest = line.trim().strip_prefix('#')?;
    let mut words = rest.split_whitespace();
    let executions = words.next()?.parse().ok()?;
    if !event(words.next()?) {
        return None;
    }
    let words: Vec<&str> = words.collect();
    let after = |key: &str| -> Option<u64> {
        let i = words.iter().position(|w| *w == key)?;
        words.get(i + 1)?.parse().ok()
    };
    Some(Figures {
        executions,
        coverage: after("cov:")?,
        features: after("ft:").unwrap_or(0),
        exec_per_second: after("exec/s:"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libfuzzers_final_line() {
        let line =
            "#5412345\tDONE   cov: 812 ft: 2931 corp: 154/9876b lim: 4096 exec/s: 270617 rss: 61Mb";
        assert_eq!(
            parse_done_line(line),
            Some(Figures {
                executions: 5_412_345,
                coverage: 812,
                features: 2931,
                exec_per_second: Some(270_617),
            })
        );
        assert_eq!(
            parse_done_line("#65536\tpulse  cov: 812 ft: 2931 corp: 154/9876b"),
            None
        );
        assert_eq!(
            parse_status_line("#65536\tpulse  cov: 812 ft: 2931 corp: 154/9876b")
                .map(|f| f.executions),
            Some(65536)
        );
        assert_eq!(parse_done_line("Done 5412345 runs in 21 second(s)"), None);
        assert_eq!(parse_done_line("#x DONE cov: 1"), None);
    }

    #[test]
    fn reads_a_control_file() {
        let text = "3\n0\n/w/a\n/w/b\n/w/c\nSTARTED 0 10\nFT 0 1 2 3\nCOV 0 7\nSTARTED 1 5\nSTARTED 2 4\nFT 2 3 4\nCOV 2\n";
        let inputs = parse_control_file(text);
        assert_eq!(
            inputs,
            vec![
                (PathBuf::from("/w/a"), vec![1, 2, 3]),
                (PathBuf::from("/w/c"), vec![3, 4])
            ]
        );
        assert!(parse_control_file("").is_empty());
        assert!(parse_control_file("x\n").is_empty());
    }

    fn candidate(size: u64, features: &[u32]) -> Candidate {
        Candidate {
            path: PathBuf::from(format!("{size}")),
            size,
            features: features.to_vec(),
        }
    }

    #[test]
    fn greedy_cover_picks_the_largest_gain_first_within_the_budget() {
        let forced = vec![vec![1, 2]];
        let candidates = vec![
            candidate(1, &[1, 2, 3]),       // adds 1
            candidate(2, &[4, 5, 6, 7]),    // adds 4
            candidate(3, &[3, 4, 5, 6, 7]), // adds 5: first
            candidate(4, &[8]),             // adds 1
            candidate(5, &[8]),             // same gain, larger: never before 3
        ];
        let (picked, kept, total) = greedy_cover(&forced, &candidates, 10);
        assert_eq!(picked, vec![2, 3]);
        assert_eq!((kept, total), (8, 8));
        let (picked, kept, total) = greedy_cover(&forced, &candidates, 1);
        assert_eq!(picked, vec![2]);
        assert_eq!((kept, total), (7, 8));
        let (picked, _, _) = greedy_cover(&forced, &candidates, 0);
        assert!(picked.is_empty());
    }

    #[test]
    fn found_inputs_are_told_from_seeds() {
        assert!(is_found_input(Path::new(
            "corpus/t/0123456789abcdef0123456789abcdef01234567"
        )));
        assert!(!is_found_input(Path::new("corpus/t/regression_array_body")));
        assert!(!is_found_input(Path::new("corpus/t/0123")));
    }

    #[test]
    fn arguments_are_checked() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let o = parse_args(&args(&["--seconds", "600", "--jobs", "2", "--target", "x"])).unwrap();
        assert_eq!((o.seconds, o.jobs, o.max_files), (600, 2, 250));
        assert_eq!(o.only.as_deref(), Some("x"));
        assert!(parse_args(&args(&["--seconds", "0"])).is_err());
        assert!(parse_args(&args(&["--jobs"])).is_err());
        assert!(parse_args(&args(&["--bogus"])).is_err());
    }
}
