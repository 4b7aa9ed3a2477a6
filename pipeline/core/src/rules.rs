//! The SQL a config may hold: an audience's `filter` and `order_by`, a next
//! action's `when`. Each is parsed at config load as what it must be (one
//! boolean expression, or one ORDER BY list), with sqlparser, the parser
//! DataFusion plans with, so that a statement, a `UNION`, a subquery or a
//! second clause smuggled into the text is a config error (exit 2) before
//! anything runs, and the stages interpolate the parsed expression as
//! printed back by the parser, never the config's text.
//!
//! The columns an expression names are checked too: the score columns of
//! the run ([`crate::contract::score_columns`]) and nothing else, so a typo
//! is exit 2 at load rather than at the export stage, hours later.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, OrderByExpr, Visit, Visitor};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

/// One boolean expression (a WHERE or CASE WHEN condition), checked and
/// printed back. `known` are the column names it may read.
pub fn condition(text: &str, known: &[String]) -> Result<String, String> {
    let mut p = parser(text)?;
    let expr = p
        .parse_expr()
        .map_err(|e| format!("not an expression: {e}"))?;
    end(&p)?;
    check(&expr, known)?;
    Ok(expr.to_string())
}

/// An ORDER BY list (`expr [ASC|DESC] [NULLS FIRST|LAST], ...`), checked
/// and printed back.
pub fn order_by(text: &str, known: &[String]) -> Result<String, String> {
    let mut p = parser(text)?;
    let list: Vec<OrderByExpr> = p
        .parse_comma_separated(Parser::parse_order_by_expr)
        .map_err(|e| format!("not an ORDER BY list: {e}"))?;
    end(&p)?;
    for o in &list {
        if o.with_fill.is_some() {
            return Err("WITH FILL is not supported".into());
        }
        check(&o.expr, known)?;
    }
    Ok(list
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", "))
}

fn parser(text: &str) -> Result<Parser<'static>, String> {
    if text.trim().is_empty() {
        return Err("empty".into());
    }
    static DIALECT: GenericDialect = GenericDialect {};
    Parser::new(&DIALECT)
        .try_with_sql(text)
        .map_err(|e| format!("not valid SQL: {e}"))
}

/// Nothing after the expression: no `;`, no second statement, no clause.
fn end(p: &Parser<'_>) -> Result<(), String> {
    match p.peek_token().token {
        Token::EOF => Ok(()),
        t => Err(format!(
            "one expression only, found `{t}` after it (a statement, a second clause or a `;` is not allowed)"
        )),
    }
}

/// No subquery anywhere; every column named is known.
fn check(expr: &Expr, known: &[String]) -> Result<(), String> {
    struct Check<'a> {
        known: &'a [String],
    }
    impl Visitor for Check<'_> {
        type Break = String;
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<String> {
            let column = match e {
                Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                    return ControlFlow::Break(format!(
                        "a subquery is not allowed (`{e}`): an expression reads the score columns only"
                    ));
                }
                Expr::Identifier(i) => i,
                Expr::CompoundIdentifier(parts) => match parts.last() {
                    Some(i) => i,
                    None => return ControlFlow::Continue(()),
                },
                _ => return ControlFlow::Continue(()),
            };
            // DataFusion folds unquoted names to lower case.
            let name = if column.quote_style.is_some() {
                column.value.clone()
            } else {
                column.value.to_lowercase()
            };
            if self.known.contains(&name) {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(format!(
                    "unknown column `{}` (the columns are: {})",
                    column.value,
                    self.known.join(", ")
                ))
            }
        }
    }
    match expr.visit(&mut Check { known }) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        ["clv_12m", "next_action", "rfm_segment", "r_score", "Mixed"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn expressions_pass_and_print_back() {
        assert_eq!(
            condition("next_action = 'retain' AND r_score <= 2", &known()),
            Ok("next_action = 'retain' AND r_score <= 2".to_string())
        );
        assert_eq!(
            condition("NEXT_ACTION IN ('a', 'b') or \"Mixed\" > 1", &known()),
            Ok("NEXT_ACTION IN ('a', 'b') OR \"Mixed\" > 1".to_string())
        );
        assert_eq!(
            order_by("clv_12m DESC NULLS LAST, r_score", &known()),
            Ok("clv_12m DESC NULLS LAST, r_score".to_string())
        );
        assert!(condition("coalesce(clv_12m, 0) > 10", &known()).is_ok());
    }

    #[test]
    fn statements_unions_subqueries_and_unknown_columns_are_refused() {
        for (text, says) in [
            ("true; DROP TABLE scores", "one expression only"),
            (
                "true) UNION SELECT customer_id FROM customers WHERE (true",
                "one expression only",
            ),
            ("r_score IN (SELECT 1)", "subquery"),
            ("EXISTS (SELECT 1)", "subquery"),
            ("(SELECT max(clv_12m) FROM scores) > 1", "subquery"),
            ("clv_12m > 1 ORDER BY 1", "one expression only"),
            ("consent_email", "unknown column `consent_email`"),
            ("\"mixed\" > 1", "unknown column `mixed`"),
            ("", "empty"),
            ("r_score >", "not an expression"),
        ] {
            let got = condition(text, &known());
            assert!(
                got.as_ref().is_err_and(|e| e.contains(says)),
                "{text}: {got:?}"
            );
        }
        for (text, says) in [
            ("clv_12m DESC; DELETE FROM scores", "one expression only"),
            ("clv_12m DESC LIMIT 5", "one expression only"),
            ("(SELECT 1)", "subquery"),
            ("churn DESC", "unknown column `churn`"),
        ] {
            let got = order_by(text, &known());
            assert!(
                got.as_ref().is_err_and(|e| e.contains(says)),
                "{text}: {got:?}"
            );
        }
    }
}
