-- int_survey_answers: each customer's latest NPS and CSAT answer.
--
-- reads: stg_interactions.
--
-- grain: one row per customer with an answered survey (an `nps` or `csat`
-- interaction with a value) before the end of the cutoff day. Materialized.
--
-- Answers are a small share of the interactions, so ranking them is cheap;
-- ties on the timestamp go to the lower score.

with answers as (

    select customer_id, event_type, event_ts, value
    from stg_interactions
    where event_type in ('nps', 'csat') and value is not null

),

ranked as (

    select
        customer_id,
        event_type,
        value,
        row_number() over (
            partition by customer_id, event_type order by event_ts desc, value
        ) as answer_rank
    from answers

),

final as (

    select
        customer_id,
        max(case when event_type = 'nps' then value end) as last_nps,
        max(case when event_type = 'csat' then value end) as last_csat
    from ranked
    where answer_rank = 1
    group by customer_id

)

select * from final
