//! Two replicas on SQLite files edit the same settings offline, concurrently, then sync and
//! converge. Run with `make demo` (or `cargo run -p statesync --example demo`).

use serde_json::json;
use statesync::{ConflictStrategy, CreateOptions, ManagerConfig, SyncManager};

fn open(dir: &std::path::Path, node: &str) -> statesync::Result<SyncManager> {
    // MergeFields: concurrent edits of different fields both survive.
    SyncManager::open(
        ManagerConfig::sqlite(dir.join(format!("{node}.db"))).node_id(node).strategy(ConflictStrategy::MergeFields),
    )
}

/// One sync round, as a transport would run it between two devices.
fn sync(a: &SyncManager, b: &SyncManager) -> statesync::Result<()> {
    let report = a.sync_with(b)?;
    for (what, r) in [("pulled", report.pulled), ("pushed", report.pushed)] {
        println!(
            "  {} {what}: created {}, updated {}, unchanged {}, ignored {}, conflicts {} (resolved {})",
            a.node_id()?,
            r.created,
            r.updated,
            r.unchanged,
            r.ignored,
            r.conflicts,
            r.resolved
        );
    }
    // A real client acknowledges its pending operations once its transport delivered them.
    for m in [a, b] {
        let ops: Vec<String> = m.pending_operations()?.into_iter().map(|op| op.op_id).collect();
        m.acknowledge(&ops)?;
    }
    Ok(())
}

fn main() -> statesync::Result<()> {
    let dir = std::env::temp_dir().join(format!("statesync-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| statesync::SyncError::InvalidInput(e.to_string()))?;
    let phone = open(&dir, "phone")?;
    let laptop = open(&dir, "laptop")?;
    println!("replicas: phone and laptop, stored in {}", dir.display());

    phone.create_state(
        json!({"theme": "dark", "font": {"size": 12}}),
        CreateOptions::id("settings").in_collection("prefs"),
    )?;
    println!("phone creates settings: {}", phone.get_state("settings")?.unwrap().data);
    sync(&phone, &laptop)?;

    println!("both go offline and edit:");
    phone.update_state("settings", json!({"theme": "light", "font": {"size": 12}}))?;
    println!("  phone  sets theme=light  -> {}", phone.get_state("settings")?.unwrap().data);
    laptop.update_state("settings", json!({"theme": "dark", "font": {"size": 16}}))?;
    println!("  laptop sets font.size=16 -> {}", laptop.get_state("settings")?.unwrap().data);
    laptop.create_state(json!(["milk", "eggs"]), CreateOptions::id("shopping"))?;
    println!("  laptop creates a shopping list");

    println!("back online, they sync:");
    sync(&phone, &laptop)?;

    let (p, l) = (phone.list_states(None, true)?, laptop.list_states(None, true)?);
    for s in &p {
        println!("  {:<9} v{} {} hash {}", s.id, s.version, s.data, s.hash);
    }
    let converged = p == l;
    println!("converged: {converged}");
    phone.close()?;
    laptop.close()?;

    // Reopen from disk: everything is still there.
    let reopened = open(&dir, "phone")?;
    println!("phone reopened from disk with {} states", reopened.list_states(None, false)?.len());
    reopened.close()?;
    let _ = std::fs::remove_dir_all(&dir);
    if !converged {
        std::process::exit(1);
    }
    Ok(())
}
