//! What earlier sessions ran together with each stateful function, read back from the stored
//! tests (see `Engine::may_have_run_beneath`).
//!
//! A test an earlier session recorded depends on what it ran; a test that ran a stateful
//! function `w` and a function `g` is the evidence that `g` may run beneath `w`. An unselected
//! test may run `w` before a selected one in the next full run, so a test recorded now that
//! reads `w`'s state depends on those `g` as well, though nothing this session ran them. The
//! stored tests' dependencies include the memo closures recorded from this same evidence, so
//! reading it back session after session converges on what ran with `w`, never on every
//! function the database knows (which made each rerun test depend on a writer's whole static
//! closure again after its first session).

use std::collections::{HashMap, HashSet};

use crate::block::Name;
use crate::block_name::BlockName;
use crate::closure::{Function, StoredRuns};
use crate::engine::Engine;
use crate::error::Result;
use crate::fasthash::FastMap;

impl Engine {
    /// Reads `stored_runs` once a session, at its first record.
    ///
    /// # Errors
    /// Database errors.
    pub(crate) fn read_stored_runs(&mut self) -> Result<()> {
        if self.stored_runs_read {
            return Ok(());
        }
        self.stored_runs_read = true;
        let files = self.store.files()?;
        let ids: HashSet<i64> = files.iter().map(|file| file.id).collect();
        let mut blocks = self.store.blocks_of_files(&ids)?;
        let mut functions: Vec<Function> = Vec::new();
        let mut index: FastMap<Function, u32> = FastMap::default();
        // Block version id -> index of its function (every stored version of it).
        let mut of_id: HashMap<i64, u32> = HashMap::new();
        for file in files {
            let path = Name::intern(&file.path);
            for block in blocks.remove(&file.id).unwrap_or_default() {
                if let BlockName::Function(_) = BlockName::parse(&block.name) {
                    let function = (path, Name::intern(&block.name));
                    let next = u32::try_from(functions.len()).unwrap_or(u32::MAX);
                    let at = *index.entry(function).or_insert_with(|| {
                        functions.push(function);
                        next
                    });
                    of_id.insert(block.id, at);
                }
            }
        }
        // Whether each is stateful is read off its file as it reads now: parse those files on
        // all cores first, not one by one below (500 files of a dense project took 150 ms).
        self.preload(functions.iter().map(|(path, _)| path.as_str()));
        // Rows of the stateful ones (as they read now), by function index.
        let mut row_of: HashMap<u32, usize> = HashMap::new();
        let mut writers: Vec<Function> = Vec::new();
        for (at, &(path, name)) in functions.iter().enumerate() {
            let stateful = self.current(path.as_str()).and_then(|current| {
                current
                    .model
                    .function(name)
                    .map(|block| self.keeps_state(block))
            });
            if stateful == Some(true) {
                row_of.insert(u32::try_from(at).unwrap_or(u32::MAX), writers.len());
                writers.push((path, name));
            }
        }
        if writers.is_empty() {
            return Ok(());
        }
        let words = functions.len().div_ceil(64);
        let mut rows: Vec<Vec<u64>> = vec![vec![0; words]; writers.len()];
        let mut present = vec![0_u64; words];
        let mut touched: Vec<usize> = Vec::new();
        let mut wanted: Vec<i64> = of_id.keys().copied().collect();
        wanted.sort_unstable();
        self.store.for_each_test_matching(&wanted, |_, hits| {
            present.fill(0);
            touched.clear();
            for id in hits {
                let Some(&at) = of_id.get(id) else { continue };
                present[at as usize / 64] |= 1 << (at % 64);
                if let Some(&row) = row_of.get(&at) {
                    touched.push(row);
                }
            }
            for &row in &touched {
                for (word, bits) in rows[row].iter_mut().zip(&present) {
                    *word |= bits;
                }
            }
        })?;
        self.stored_runs = StoredRuns {
            index,
            with: writers
                .into_iter()
                .zip(rows)
                .map(|(writer, row)| (writer, row.into_boxed_slice()))
                .collect(),
        };
        Ok(())
    }
}
