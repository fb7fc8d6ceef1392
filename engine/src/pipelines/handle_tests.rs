use super::*;
use crate::accounts::{AuditQuery, AuthMethod, Principal};
use crate::db::testing::both_backends;

fn as_role(role: Role) -> Actor {
    let p = Principal { user_id: 1, username: format!("the {}", role.as_str()), role, via: AuthMethod::Token };
    Actor::user(p, "10.1.2.3")
}

const CHAIN: &str = "description = \"first\"\n[[tasks]]\nid = \"a\"\ntype = \"noop\"\n\
                     [[tasks]]\nid = \"b\"\ntype = \"noop\"\nupstream = [\"a\"]\n";

async fn write(dir: &std::path::Path, name: &str, text: &str) {
    tokio::fs::write(dir.join(name), text).await.unwrap();
}

both_backends! {
    async fn files_are_read_when_they_change_and_each_change_is_a_version(db) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pipelines");
        std::fs::create_dir_all(&dir).unwrap();
        write(&dir, "chain.toml", CHAIN).await;
        write(&dir, "notes.txt", "not a definition").await;
        let p = Pipelines::open(db.clone(), dir.clone()).await.unwrap();
        let viewer = as_role(Role::Viewer);
        let list = p.list(&viewer).await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!((list[0].id.as_str(), list[0].version, list[0].tasks, list[0].paused), ("chain", 1, 2, false));

        // Unchanged: nothing read. Touched with the same text: the same version.
        assert!(!p.rescan().await.unwrap());
        write(&dir, "chain.toml", CHAIN).await;
        p.rescan().await.unwrap();
        assert_eq!(p.get(&viewer, "chain").await.unwrap().version, 1);

        // A change is the next version; a broken change keeps it in force with its problems.
        write(&dir, "chain.toml", &CHAIN.replace("first", "second")).await;
        assert!(p.rescan().await.unwrap());
        assert_eq!(p.get(&viewer, "chain").await.unwrap().definition.description, "second");
        write(&dir, "chain.toml", &format!("{CHAIN}[[tasks]]\nid = \"c\"\ntype = \"noop\"\nupstream = [\"nowhere\"]\n")).await;
        assert!(!p.rescan().await.unwrap());
        let view = p.get(&viewer, "chain").await.unwrap();
        assert_eq!((view.version, view.definition.description.as_str()), (2, "second"), "the last good version runs");
        assert_eq!(view.problems.len(), 1);
        assert_eq!(view.problems[0].to_string(), "pipelines/chain.toml: task 'c': upstream: unknown task 'nowhere'");
        assert!(p.list(&viewer).await.unwrap()[0].has_problems);

        // Every version is kept with its source, and an old one reads again.
        let versions = p.versions(&viewer, "chain").await.unwrap();
        assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [2, 1]);
        assert!(versions.iter().all(|v| v.saved_by.is_none()));
        let first = p.version(&viewer, "chain", 1).await.unwrap();
        assert_eq!(first.source, CHAIN);
        assert_eq!(first.definition.unwrap().description, "first");
        assert_eq!(p.version(&viewer, "chain", 9).await.unwrap_err().kind(), ErrorKind::NotFound);

        // A file with a bad name, or too big, is a problem of its own; a removed file goes.
        write(&dir, "bad name.toml", CHAIN).await;
        write(&dir, "huge.toml", &"#".repeat(crate::pipelines::catalog::MAX_DEFINITION_BYTES as usize + 1)).await;
        p.rescan().await.unwrap();
        let problems = p.problems(&viewer).await.unwrap();
        let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert!(shown.iter().any(|s| s.contains("'bad name' is not a valid pipeline id")), "{shown:?}");
        assert!(shown.iter().any(|s| s.starts_with("pipelines/huge.toml: is 1048577 bytes")), "{shown:?}");
        tokio::fs::remove_file(dir.join("chain.toml")).await.unwrap();
        assert!(p.rescan().await.unwrap());
        assert_eq!(p.get(&viewer, "chain").await.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(p.versions(&viewer, "chain").await.unwrap().len(), 2, "its versions stay for its runs");
        assert_eq!(p.get(&Actor::anonymous("x"), "chain").await.unwrap_err().kind(), ErrorKind::Unauthenticated);
    }

    async fn saves_check_roles_write_the_file_and_are_audited(db) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pipelines");
        let p = Pipelines::open(db.clone(), dir.clone()).await.unwrap();
        let (viewer, editor, admin) = (as_role(Role::Viewer), as_role(Role::Editor), as_role(Role::Admin));
        assert_eq!(p.save(&viewer, "chain", CHAIN).await.unwrap_err().kind(), ErrorKind::Forbidden);
        assert_eq!(p.save(&editor, "chain", CHAIN).await.unwrap(), 1);
        assert_eq!(std::fs::read_to_string(dir.join("chain.toml")).unwrap(), CHAIN);
        assert!(!p.rescan().await.unwrap(), "its own save is not read again");
        let versions = p.versions(&viewer, "chain").await.unwrap();
        assert_eq!(versions[0].saved_by.as_deref(), Some("the editor"));

        // A definition with problems is refused whole and changes nothing.
        let broken = p.save(&editor, "chain", "[[tasks]]\nid = \"a\"\ntype = \"teleport\"\n").await.unwrap_err();
        assert_eq!(broken.kind(), ErrorKind::Invalid);
        assert!(broken.to_string().contains("pipelines/chain.toml: task 'a': type: unknown type 'teleport'"), "{broken}");
        assert_eq!(std::fs::read_to_string(dir.join("chain.toml")).unwrap(), CHAIN);
        let bad_id = p.save(&editor, "../escape", CHAIN).await.unwrap_err();
        assert_eq!(bad_id.kind(), ErrorKind::Invalid);
        assert!(!tmp.path().join("escape.toml").exists());

        // Programs: admins only, and the refusal names the task.
        let command = "[[tasks]]\nid = \"train\"\ntype = \"command\"\nconfig = { program = \"python3\" }\n";
        let refused = p.save(&editor, "train", command).await.unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::Forbidden);
        assert!(refused.to_string().contains("task 'train' runs a program"), "{refused}");
        assert!(!dir.join("train.toml").exists());
        assert_eq!(p.check(&admin, "train", command).await.unwrap().tasks.len(), 1);
        assert_eq!(p.save(&admin, "train", command).await.unwrap(), 1);

        // Pause and resume.
        p.set_paused(&editor, "chain", true).await.unwrap();
        assert!(p.get(&viewer, "chain").await.unwrap().paused);
        p.set_paused(&editor, "chain", false).await.unwrap();
        assert!(!p.list(&viewer).await.unwrap().iter().any(|s| s.paused));
        assert_eq!(p.set_paused(&viewer, "chain", true).await.unwrap_err().kind(), ErrorKind::Forbidden);
        assert_eq!(p.set_paused(&editor, "nope", true).await.unwrap_err().kind(), ErrorKind::NotFound);

        let q = AuditQuery { action: Some("pipeline.".into()), ..Default::default() };
        let audit = crate::accounts::audit::query(&db, &q).await.unwrap();
        let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["pipeline.resume", "pipeline.pause", "pipeline.save", "pipeline.save"]);
    }

    async fn two_processes_reading_one_change_agree_on_its_version(db) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pipelines");
        std::fs::create_dir_all(&dir).unwrap();
        write(&dir, "chain.toml", CHAIN).await;
        let (one, two) = tokio::join!(Pipelines::open(db.clone(), dir.clone()), Pipelines::open(db.clone(), dir.clone()));
        let (one, two) = (one.unwrap(), two.unwrap());
        write(&dir, "chain.toml", &CHAIN.replace("first", "second")).await;
        let (a, b) = tokio::join!(one.rescan(), two.rescan());
        a.unwrap();
        b.unwrap();
        let viewer = as_role(Role::Viewer);
        assert_eq!(one.get(&viewer, "chain").await.unwrap().version, 2);
        assert_eq!(two.get(&viewer, "chain").await.unwrap().version, 2);
        assert_eq!(one.versions(&viewer, "chain").await.unwrap().len(), 2);
    }
}
