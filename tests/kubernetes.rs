//! The Kubernetes manifests under `deploy/`: valid against the Kubernetes schemas
//! (`kubernetes-validate` from PyPI, pinned in scripts/requirements.txt, strict: no field the
//! schema does not know), and saying what docs/kubernetes.md says they do.

mod common;

use common::{python, root, text};

#[test]
fn the_manifests_are_valid_kubernetes_resources() {
    let Some(python) = python() else { return };
    let validator = python.with_file_name("kubernetes-validate");
    let manifests: Vec<std::path::PathBuf> = std::fs::read_dir(root().join("deploy"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert!(manifests.len() >= 4, "{manifests:?}");
    let out = std::process::Command::new(&validator)
        .arg("--strict")
        .args(&manifests)
        .output()
        .unwrap();
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    for kind in [
        "statefulset",
        "service",
        "job",
        "cronjob",
        "configmap",
        "persistentvolumeclaim",
    ] {
        assert!(
            said.contains(&format!("passed for resource {kind}/")),
            "{kind}: {said}"
        );
    }
}

#[test]
fn the_fleet_is_sharded_probed_and_scraped() {
    let fleet = std::fs::read_to_string(root().join("deploy/fleet.yaml")).unwrap();
    for needed in [
        "clusterIP: None",
        "--shard-count=4",
        "--addressing=port-range",
        "readinessProbe:",
        "prometheus.io/scrape: \"true\"",
        "runAsNonRoot: true",
        "memory: 96Mi",
    ] {
        assert!(fleet.contains(needed), "deploy/fleet.yaml lacks {needed}");
    }
    let campaign = std::fs::read_to_string(root().join("deploy/campaign.yaml")).unwrap();
    for needed in [
        "completionMode: Indexed",
        "$(JOB_COMPLETION_INDEX)",
        "- merge",
    ] {
        assert!(
            campaign.contains(needed),
            "deploy/campaign.yaml lacks {needed}"
        );
    }
}
