//! Face bindings on both backends: a host or a prefix belongs to one program of a face.

use crate::common::*;
use accrue_store::face_bindings::FaceBinding;
use accrue_store::testing::TestDb;
use accrue_store::{on_both_backends, NewCurrency, NewProgram, StoreError};

on_both_backends!(a_host_or_prefix_belongs_to_one_program);

async fn a_host_or_prefix_belongs_to_one_program(db: TestDb) {
    let f = Fixture::new(db).await;
    let shop = f
        .store
        .create_program(NewProgram {
            code: "shop".into(),
            name: "Shop".into(),
            phone_region: "RU".into(),
            currency: NewCurrency::bonus(),
        })
        .await
        .unwrap()
        .id;
    let hosts = |h: &[&str]| h.iter().map(|h| h.to_string()).collect::<Vec<_>>();
    f.store
        .bind_face(
            "loymax",
            f.program,
            hosts(&["b.example", "a.example"]),
            Some("/main".into()),
        )
        .await
        .unwrap();
    assert_eq!(
        f.store.face_binding("loymax", f.program).await.unwrap(),
        Some(FaceBinding {
            program_id: f.program,
            program: "default".into(),
            hosts: hosts(&["a.example", "b.example"]),
            path_prefix: Some("/main".into()),
        })
    );
    assert_eq!(f.store.face_binding("loymax", shop).await.unwrap(), None);

    let taken = f
        .store
        .bind_face("loymax", shop, hosts(&["c.example", "b.example"]), None)
        .await;
    assert!(
        matches!(&taken, Err(StoreError::Conflict(m)) if m == "host b.example is bound to program default"),
        "{taken:?}"
    );
    let taken = f
        .store
        .bind_face("loymax", shop, Vec::new(), Some("/main".into()))
        .await;
    assert!(
        matches!(&taken, Err(StoreError::Conflict(m)) if m.contains("path prefix /main")),
        "{taken:?}"
    );
    assert_eq!(
        f.store.face_binding("loymax", shop).await.unwrap(),
        None,
        "nothing changed"
    );

    // Another face, or the same program again, is no conflict; a new binding replaces the old.
    f.store
        .bind_face("tracker", shop, hosts(&["a.example"]), None)
        .await
        .unwrap();
    f.store
        .bind_face("loymax", f.program, hosts(&["a.example"]), None)
        .await
        .unwrap();
    f.store
        .bind_face("loymax", shop, hosts(&["b.example"]), Some("/main".into()))
        .await
        .unwrap();
    let all = f.store.face_bindings("loymax").await.unwrap();
    let summary: Vec<(&str, &[String], Option<&str>)> = all
        .iter()
        .map(|b| (b.program.as_str(), &b.hosts[..], b.path_prefix.as_deref()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("default", &hosts(&["a.example"])[..], None),
            ("shop", &hosts(&["b.example"])[..], Some("/main")),
        ]
    );
    assert!(f.store.unbind_face("loymax", shop).await.unwrap());
    assert!(!f.store.unbind_face("loymax", shop).await.unwrap());
    assert_eq!(f.store.face_bindings("loymax").await.unwrap().len(), 1);
}
