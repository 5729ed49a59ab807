//! The recipes in `deploy/` run what this test runs. For each scheduler — a Kubernetes
//! Indexed Job, a Slurm array job, a CI matrix — the test parses the manifest, checks
//! it names what the test runs (the index variable, `completionMode: Indexed`, N
//! completions and parallelism, an array range or matrix of N), then runs its exact
//! shard command (the `bash -c` script, the sbatch script, the matrix step's `run`)
//! once per index with the scheduler's index variable set, runs its merge step, and
//! checks the merged result equals one unsharded run of the same seeds.
//!
//! What differs from production: fewer seeds and steps (`SEEDS`, `STEPS` from the
//! environment, which the manifests set and the scripts read), `SIM` pointing at the
//! binary this test built, `RESULTS` at a temporary directory.

use serde_norway::Value;
use sim::campaign::result::{parse_result, ResultFile};
use std::path::{Path, PathBuf};
use std::process::Command;

const SEEDS: &str = "200";
const STEPS: &str = "300";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sim/ is inside the repository")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    serde_norway::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} does not parse: {e}"))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p).unwrap_or_else(|| panic!("no {p} in {path:?}"));
    }
    cur.as_str()
        .unwrap_or_else(|| panic!("{path:?} is not a string"))
}

/// A command run the way the scheduler would: bash, in the repository, with the
/// recipe's environment plus the test's small campaign.
fn bash(script: &str, env: &[(String, String)], results: &Path) -> std::process::Output {
    let path = format!(
        "{}:{}",
        repo().join("deploy").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(repo())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("PATH", path)
        .env("SEEDS", SEEDS)
        .env("STEPS", STEPS)
        .env("JOBS", "2")
        .env("RESULTS", results)
        .env("SIM", env!("CARGO_BIN_EXE_sim"))
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{script:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run `shard` once per index with `var` set, then `merge`; return the merged result.
fn run_recipe(
    name: &str,
    shards: u64,
    var: &str,
    shard: &str,
    merge: &str,
    env: &[(String, String)],
) -> ResultFile {
    let dir = tempfile::tempdir().expect("temp dir");
    for i in 0..shards {
        let mut env = env.to_vec();
        env.push((var.to_string(), i.to_string()));
        bash(shard, &env, dir.path());
    }
    bash(merge, env, dir.path());
    let text = std::fs::read_to_string(dir.path().join("merged.json"))
        .unwrap_or_else(|e| panic!("{name}: no merged.json: {e}"));
    parse_result(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn unsharded() -> ResultFile {
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args([
            "run", "--seeds", SEEDS, "--steps", STEPS, "--jobs", "2", "--json",
        ])
        .output()
        .expect("sim runs");
    assert!(out.status.success(), "the unsharded run failed");
    parse_result(&String::from_utf8_lossy(&out.stdout)).expect("a result file")
}

/// Every counter, the failure list and the per-seed rows must match; timing and
/// thread counts may not.
fn assert_same(name: &str, merged: &ResultFile, whole: &ResultFile) {
    let untimed = |r: &ResultFile| {
        let mut r = r.clone();
        r.summary.seconds = 0.0;
        r.summary.seeds_per_second = 0.0;
        r.jobs = 0;
        r
    };
    assert_eq!(
        untimed(merged),
        untimed(whole),
        "{name}: merged != unsharded"
    );
    assert_eq!(merged.summary.seeds, 200);
}

fn k8s_env(container: &Value) -> Vec<(String, String)> {
    container["env"]
        .as_sequence()
        .expect("env list")
        .iter()
        .map(|e| (str_at(e, &["name"]).into(), str_at(e, &["value"]).into()))
        .collect()
}

fn env_value(env: &[(String, String)], key: &str) -> u64 {
    env.iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric {key} in the recipe's env"))
}

/// The `bash -c` script of a Job's only container, and its environment.
fn k8s_job(rel: &str) -> (Value, String, Vec<(String, String)>) {
    let job = yaml(rel);
    assert_eq!(str_at(&job, &["kind"]), "Job", "{rel}");
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    let cmd: Vec<&str> = c["command"]
        .as_sequence()
        .expect("command")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(cmd, ["bash", "-c"], "{rel}: the script is args[0]");
    let script = c["args"][0].as_str().expect("args[0]").to_string();
    assert_eq!(
        str_at(&c["volumeMounts"][0], &["mountPath"]),
        "/results",
        "{rel}: results on the volume"
    );
    let env = k8s_env(c);
    (job, script, env)
}

#[test]
fn every_recipe_runs_its_shards_and_merges_to_the_unsharded_result() {
    let whole = unsharded();

    // Kubernetes: an Indexed Job and a merge Job.
    let (job, shard, env) = k8s_job("deploy/kubernetes/shards-job.yaml");
    let n = env_value(&env, "SHARDS");
    assert_eq!(job["spec"]["completionMode"].as_str(), Some("Indexed"));
    assert_eq!(job["spec"]["completions"].as_u64(), Some(n));
    assert_eq!(job["spec"]["parallelism"].as_u64(), Some(n));
    assert_eq!(shard, r#"run-shard.sh "$JOB_COMPLETION_INDEX""#);
    let (_, merge, menv) = k8s_job("deploy/kubernetes/merge-job.yaml");
    assert_eq!(merge, "merge.sh");
    assert_eq!(env_value(&menv, "SHARDS"), n);
    let docker = read("deploy/kubernetes/Dockerfile");
    assert!(docker.contains("cargo build --release --locked -p sim"));
    assert!(docker.contains("COPY deploy/run-shard.sh deploy/merge.sh /usr/local/bin/"));
    let env: Vec<_> = env.into_iter().filter(|(k, _)| k != "RESULTS").collect();
    let merged = run_recipe(
        "kubernetes",
        n,
        "JOB_COMPLETION_INDEX",
        &shard,
        &merge,
        &env,
    );
    assert_same("kubernetes", &merged, &whole);

    // Slurm: an array job (the whole sbatch script is the command) and its merge job,
    // chained with afterok.
    let sbatch = read("deploy/slurm/shards.sbatch");
    assert!(
        sbatch.contains("\n#SBATCH --array=0-7\n"),
        "array range 0-7"
    );
    assert!(
        sbatch.contains("export SHARDS=\"${SHARDS:-8}\""),
        "8 shards"
    );
    assert!(sbatch.contains("run-shard.sh \"$SLURM_ARRAY_TASK_ID\""));
    let msbatch = read("deploy/slurm/merge.sbatch");
    assert!(msbatch.contains("\nmerge.sh\n"));
    let submit = read("deploy/slurm/submit.sh");
    assert!(submit.contains("--dependency=afterok:") && submit.contains("merge.sbatch"));
    let env = vec![("SLURM_SUBMIT_DIR".to_string(), repo().display().to_string())];
    let merged = run_recipe("slurm", 8, "SLURM_ARRAY_TASK_ID", &sbatch, &msbatch, &env);
    assert_same("slurm", &merged, &whole);

    // CI matrix: the matrix index is SHARD_INDEX; the merge job needs the shards.
    let wf = yaml("deploy/ci/github-actions.yml");
    let env: Vec<(String, String)> = ["SHARDS", "START"]
        .iter()
        .map(|k| (k.to_string(), str_at(&wf, &["env", k]).to_string()))
        .collect();
    let n = env_value(&env, "SHARDS");
    let shard_job = &wf["jobs"]["shard"];
    let matrix: Vec<u64> = shard_job["strategy"]["matrix"]["index"]
        .as_sequence()
        .expect("matrix.index")
        .iter()
        .filter_map(|v| v.as_u64())
        .collect();
    assert_eq!(matrix, (0..n).collect::<Vec<_>>(), "matrix = 0..SHARDS");
    assert_eq!(
        str_at(shard_job, &["env", "SHARD_INDEX"]),
        "${{ matrix.index }}"
    );
    let step = |job: &Value, needle: &str| -> String {
        job["steps"]
            .as_sequence()
            .expect("steps")
            .iter()
            .filter_map(|s| s["run"].as_str())
            .find(|r| r.contains(needle))
            .unwrap_or_else(|| panic!("no step runs {needle}"))
            .to_string()
    };
    let shard = step(shard_job, "run-shard.sh");
    assert_eq!(shard, r#"deploy/run-shard.sh "$SHARD_INDEX""#);
    let merge_job = &wf["jobs"]["merge"];
    assert_eq!(merge_job["needs"].as_str(), Some("shard"));
    let merge = step(merge_job, "merge.sh");
    let merged = run_recipe("ci", n, "SHARD_INDEX", &shard, &merge, &env);
    assert_same("ci", &merged, &whole);
}
