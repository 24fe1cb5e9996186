//! What the fuzz targets share.

pub mod xlsx;

use fundsync_node::import::columns::{Children, DocIndex};
use fundsync_node::import::{self, Kind, Options};
use fundsync_protocol::{Actor, Body};

/// Runs `file` through the import parser as the node at 652800 holding a
/// few allocations, with two children; `pick` chooses the kind (bit 0) and
/// whether the importer may name category FP only (bit 1). Every row it
/// accepts must be an entry whose encoded body decodes back to it.
pub fn import_file(pick: u8, file: Vec<u8>) {
    let kind = if pick & 1 == 0 {
        Kind::Payments
    } else {
        Kind::Allocations
    };
    let mut docs = DocIndex::default();
    for (doc_no, id, category) in [
        ("巴财农〔2020〕12号", "652800-12", "FP"),
        ("新财农〔2020〕3号", "650000-3", "FP"),
        ("新财农〔2020〕3号", "650000-4", "SM"),
        ("A1", "652800-1", "SM"),
    ] {
        docs.add(doc_no, id.parse().expect("an entry id"), category);
    }
    let mut children = Children::default();
    children.add("652822".parse().expect("a node code"), "轮台县");
    children.add("652823".parse().expect("a node code"), "尉犁县");
    let actor = Actor::system();
    let mut options = Options::new(&actor);
    if pick & 2 != 0 {
        options.categories = Some(vec!["FP".to_owned()]);
    }
    for (_, row) in import::parse(kind, file, docs, children, &options) {
        let Ok(p) = row else { continue };
        let body = p.body();
        let bytes = body.encode(&actor);
        assert_eq!(
            Body::decode(body.kind(), &bytes),
            Ok((body.clone(), Some(actor.clone()))),
            "an imported row does not decode back"
        );
    }
}
