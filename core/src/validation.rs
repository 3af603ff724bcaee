//! Validation of client-supplied names and codes (BEHAVIOUR §5). Lengths are UTF-8 byte
//! counts, and the texts say so (the original said "characters" for a byte limit, which
//! misled players with accented or non-Latin names).

use crate::config::{PlayerNameValidationConfig, ProtocolConfig};

/// Checks a game name; the error is the exact reason text.
pub fn validate_game_name(name: &str, max_len: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err("Game name cannot be empty".to_owned());
    }
    if name.len() > max_len {
        return Err(format!("Game name too long (max {max_len} bytes)"));
    }
    if !name.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_' || c == ' ') {
        return Err("Game name contains invalid characters".to_owned());
    }
    Ok(())
}

/// Checks a player or spectator name; the error is the exact reason text.
pub fn validate_player_name(name: &str, protocol: &ProtocolConfig) -> Result<(), String> {
    let max_len = protocol.max_player_name_length;
    let rules: &PlayerNameValidationConfig = &protocol.player_name_validation;
    if name.is_empty() {
        return Err("Player name cannot be empty".to_owned());
    }
    if name.len() > max_len {
        return Err(format!("Player name too long (max {max_len} bytes)"));
    }
    if name.chars().all(char::is_whitespace) {
        return Err("Player name cannot be blank".to_owned());
    }
    if !rules.allow_leading_trailing_whitespace
        && (name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace))
    {
        return Err("Player name cannot have leading or trailing whitespace".to_owned());
    }
    for c in name.chars() {
        if c == ' ' {
            if !rules.allow_spaces {
                return Err("Player name cannot contain spaces".to_owned());
            }
            continue;
        }
        if c.is_whitespace() {
            return Err("Player name cannot contain whitespace characters".to_owned());
        }
        let alphanumeric =
            if rules.allow_unicode_alphanumeric { c.is_alphanumeric() } else { c.is_ascii_alphanumeric() };
        let symbol = rules.allowed_symbols.iter().any(|s| s.chars().eq(std::iter::once(c)));
        let additional = rules.additional_allowed_characters.as_deref().is_some_and(|a| a.contains(c));
        if !(alphanumeric || symbol || additional) {
            return Err("Player name contains invalid characters".to_owned());
        }
    }
    Ok(())
}

/// Checks a client-supplied room code and returns it uppercased.
pub fn normalize_room_code(code: &str, length: usize) -> Result<String, String> {
    if code.is_empty() {
        return Err("Room code cannot be empty".to_owned());
    }
    if code.len() != length {
        return Err(format!("Room code must be exactly {length} characters"));
    }
    if !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("Room code must be alphanumeric".to_owned());
    }
    Ok(code.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protocol() -> ProtocolConfig {
        ProtocolConfig::default()
    }

    #[test]
    fn player_names_from_the_behaviour_examples() {
        let p = protocol();
        for ok in ["A l", "A  l", "玩家", "١٢٣", "a-b_c", &"é".repeat(16)] {
            assert_eq!(validate_player_name(ok, &p), Ok(()), "{ok:?}");
        }
        let cases = [
            ("", "Player name cannot be empty"),
            ("Al@", "Player name contains invalid characters"),
            ("Ab.c", "Player name contains invalid characters"),
            (" Al", "Player name cannot have leading or trailing whitespace"),
            ("A\tl", "Player name cannot contain whitespace characters"),
            ("   ", "Player name cannot be blank"),
        ];
        for (name, reason) in cases {
            assert_eq!(validate_player_name(name, &p), Err(reason.to_owned()), "{name:?}");
        }
        assert_eq!(
            validate_player_name(&"é".repeat(17), &p),
            Err("Player name too long (max 32 bytes)".to_owned())
        );
    }

    #[test]
    fn player_name_rule_switches() {
        let mut p = protocol();
        p.player_name_validation.allow_spaces = false;
        assert_eq!(validate_player_name("A l", &p), Err("Player name cannot contain spaces".into()));
        p.player_name_validation.allow_unicode_alphanumeric = false;
        assert_eq!(validate_player_name("玩家", &p), Err("Player name contains invalid characters".into()));
        p.player_name_validation.additional_allowed_characters = Some("!.".into());
        assert_eq!(validate_player_name("Al!.", &p), Ok(()));
        p.player_name_validation.allow_leading_trailing_whitespace = true;
        assert_eq!(validate_player_name(" Al", &p), Err("Player name cannot contain spaces".into()));
    }

    #[test]
    fn game_names() {
        assert_eq!(validate_game_name("space race-2_x", 64), Ok(()));
        assert_eq!(validate_game_name(" ", 64), Ok(()));
        assert_eq!(validate_game_name("", 64), Err("Game name cannot be empty".into()));
        assert_eq!(validate_game_name(&"a".repeat(65), 64), Err("Game name too long (max 64 bytes)".into()));
        assert_eq!(validate_game_name("a.b", 64), Err("Game name contains invalid characters".into()));
    }

    #[test]
    fn room_codes() {
        assert_eq!(normalize_room_code("hk7t3w", 6), Ok("HK7T3W".into()));
        assert_eq!(normalize_room_code("O0I1oi", 6), Ok("O0I1OI".into()));
        assert_eq!(normalize_room_code("", 6), Err("Room code cannot be empty".into()));
        assert_eq!(normalize_room_code("ABC", 6), Err("Room code must be exactly 6 characters".into()));
        assert_eq!(normalize_room_code("ABC-EF", 6), Err("Room code must be alphanumeric".into()));
        assert_eq!(normalize_room_code("ÄBCDE", 6), Err("Room code must be alphanumeric".into()));
    }
}
