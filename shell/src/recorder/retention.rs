//! Which recording files to delete so a folder keeps `recorder.max_files` files and
//! `recorder.max_bytes` bytes at most: the oldest first (names sort by start time).

/// A file in the recording folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct RecordingFileEntry {
    /// Its name.
    pub(super) name: String,
    /// Its size (for the file being written: what it will grow to).
    pub(super) bytes: u64,
}

/// Whether `name` is a recording file (`signal-fish-<16 hex>-<6 digits>.sfr`): nothing
/// else in the folder is ever deleted.
pub(super) fn is_recording_file(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("signal-fish-").and_then(|r| r.strip_suffix(".sfr")) else {
        return false;
    };
    let Some((id, index)) = rest.split_once('-') else { return false };
    id.len() == 16
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && index.len() == 6
        && index.bytes().all(|b| b.is_ascii_digit())
}

/// The names to delete, oldest first, so what stays (`current` always stays) is within
/// both bounds.
pub(super) fn to_delete(
    files: &mut Vec<RecordingFileEntry>,
    current: &str,
    max_bytes: u64,
    max_files: u32,
) -> Vec<String> {
    files.retain(|f| is_recording_file(&f.name));
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let mut total: u64 = files.iter().map(|f| f.bytes).sum();
    let mut count = files.len();
    let mut deleted = Vec::new();
    for file in files.iter() {
        if total <= max_bytes && count <= max_files as usize {
            break;
        }
        if file.name == current {
            continue;
        }
        total -= file.bytes;
        count -= 1;
        deleted.push(file.name.clone());
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u64, index: u32, bytes: u64) -> RecordingFileEntry {
        RecordingFileEntry { name: format!("signal-fish-{id:016x}-{index:06}.sfr"), bytes }
    }

    #[test]
    fn the_oldest_go_first_until_both_bounds_hold() {
        let mut files = vec![entry(2, 0, 10), entry(1, 1, 10), entry(1, 0, 10), entry(2, 1, 10)];
        let deleted = to_delete(&mut files, &entry(2, 1, 0).name, 25, 10);
        assert_eq!(deleted, [entry(1, 0, 0).name, entry(1, 1, 0).name]);
        let mut files = vec![entry(1, 0, 1), entry(1, 1, 1), entry(1, 2, 1)];
        assert_eq!(to_delete(&mut files, &entry(1, 2, 0).name, 100, 2), [entry(1, 0, 0).name]);
    }

    #[test]
    fn the_current_file_and_other_files_are_never_deleted() {
        let mut files = vec![
            entry(1, 0, 100),
            RecordingFileEntry { name: "notes.txt".into(), bytes: 1000 },
            RecordingFileEntry { name: "signal-fish-zz-000001.sfr".into(), bytes: 1000 },
        ];
        assert!(to_delete(&mut files, &entry(1, 0, 0).name, 10, 1).is_empty());
        assert!(is_recording_file(&entry(u64::MAX, 999_999, 0).name));
        assert!(!is_recording_file("signal-fish-0000000000000001-000001.sfr.tmp"));
    }
}
