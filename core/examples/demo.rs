//! Two replicas on SQLite files edit the same settings offline, concurrently, then exchange
//! their states and converge. Run with `make demo` (or `cargo run -p statesync --example demo`).

use serde_json::json;
use statesync::{ConflictStrategy, CreateOptions, ManagerConfig, SyncManager};

fn open(dir: &std::path::Path, node: &str) -> statesync::Result<SyncManager> {
    // MergeFields: concurrent edits of different fields both survive.
    SyncManager::open(
        ManagerConfig::sqlite(dir.join(format!("{node}.db"))).node_id(node).strategy(ConflictStrategy::MergeFields),
    )
}

/// Sends every state of `from` (tombstones included) to `to`, as a transport would.
fn send(from: &SyncManager, to: &SyncManager) -> statesync::Result<()> {
    let states = from.list_states(None, true)?;
    let result = to.reconcile(states)?;
    println!(
        "  {} -> {}: created {}, updated {}, unchanged {}, ignored {}, conflicts {} (resolved {})",
        from.node_id()?,
        to.node_id()?,
        result.created,
        result.updated,
        result.unchanged,
        result.ignored,
        result.conflicts,
        result.resolved
    );
    let ops: Vec<String> = from.pending_operations()?.into_iter().map(|op| op.op_id).collect();
    from.acknowledge(&ops)?;
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
    send(&phone, &laptop)?;

    println!("both go offline and edit:");
    phone.update_state("settings", json!({"theme": "light", "font": {"size": 12}}))?;
    println!("  phone  sets theme=light  -> {}", phone.get_state("settings")?.unwrap().data);
    laptop.update_state("settings", json!({"theme": "dark", "font": {"size": 16}}))?;
    println!("  laptop sets font.size=16 -> {}", laptop.get_state("settings")?.unwrap().data);
    laptop.create_state(json!(["milk", "eggs"]), CreateOptions::id("shopping"))?;
    println!("  laptop creates a shopping list");

    println!("back online, they exchange states:");
    send(&phone, &laptop)?;
    send(&laptop, &phone)?;

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
