// The migrations are embedded by `sqlx::migrate!` at compile time; without this, a new
// migration file would not rebuild the engine and the binary would silently lack it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
