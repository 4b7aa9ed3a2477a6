-- scores: the model outputs of `fidelis score` (table `base`, one row per
-- customer, computed by fidelis-train) completed with what marketers act on:
-- CLV decile, RFM quintile scores, the named RFM segment, value and risk
-- tiers and the next action. The rules come from the job's [segments]
-- config (docs/segments.md) and are filled in below as CASE expressions.
--
-- reads: base (the model outputs of fidelis-train), features (as of the run date).
--
-- grain: one row per customer of base (every customer with a features row
-- as of the run date), in customer_id order.
--
-- Scores are facts about a customer's values, never about their id: a
-- customer's R, F or M score is 1 + floor(5 * b / n), where n is the number
-- of customers with an order day and b the number of them with a strictly
-- worse value (rank() - 1: equal values share the rank of the first). So
-- equal values get equal scores, and a customer better than at least k
-- fifths of the customers scores at least k + 1. A value that holds more
-- than a fifth of the customers keeps the score where its group starts, and
-- the next value starts where the group ends: a score can be empty (on
-- CDNOW the one-time buyers, more than half of the customers, all have
-- F = 1 and the next order count starts at F = 3). The CLV decile is the
-- same rule over ten, 1 = the highest CLV. Only customers with an order day
-- get RFM scores and a segment (prospects have no recency, frequency or
-- spend); only customers with a CLV get a decile (docs/segments.md).

-- The ranks are computed on a narrow table (the key and the four ranked
-- values) and joined back: a window sorts its whole partition, and sorting
-- every score column of 10M customers four times does not fit in memory.

with s as (
    select
        b.customer_id,
        b.clv_12m,
        f.has_orders,
        f.recency_days,
        f.order_days,
        f.net_revenue
    from base b
    left join features f on f.customer_id = b.customer_id
),

counted as (
    select
        *,
        count(*) over (partition by has_orders) as n_ordered,
        count(*) over (partition by clv_12m is null) as n_valued
    from s
),

ranks as (
    select
        customer_id,
        has_orders,
        recency_days,
        order_days,
        net_revenue,
        -- 5 = most recent: the largest recency is the worst.
        case when has_orders then cast(1 + floor(5.0 * (rank() over (
            partition by has_orders order by recency_days desc) - 1) / n_ordered) as int) end as r_score,
        case when has_orders then cast(1 + floor(5.0 * (rank() over (
            partition by has_orders order by order_days) - 1) / n_ordered) as int) end as f_score,
        case when has_orders then cast(1 + floor(5.0 * (rank() over (
            partition by has_orders order by net_revenue) - 1) / n_ordered) as int) end as m_score,
        -- 1 = the 10% with the highest CLV: b counts the higher CLVs.
        case when clv_12m is not null then cast(1 + floor(10.0 * (rank() over (
            partition by clv_12m is null order by clv_12m desc) - 1) / n_valued) as int) end as clv_decile
    from counted
),

ranked as (
    select
        b.*,
        r.has_orders,
        r.recency_days,
        r.order_days,
        r.net_revenue,
        r.r_score,
        r.f_score,
        r.m_score,
        r.clv_decile
    from base b
    join ranks r on r.customer_id = b.customer_id
),

tiered as (
    select
        ranked.*,
        {{ rfm_segment_case }} as rfm_segment,
        case
            when clv_decile <= {{ value_top_deciles }} then 'top'
            when clv_decile <= {{ value_mid_deciles }} then 'mid'
            when clv_decile is not null then 'low'
        end as value_tier,
        case
            when churn_probability >= {{ risk_high }} then 'high'
            when churn_probability >= {{ risk_medium }} then 'medium'
            when churn_probability is not null then 'low'
        end as risk_tier
    from ranked
)

select
    {{ leading_columns }},
    clv_decile,
    r_score,
    f_score,
    m_score,
    rfm_segment,
    value_tier,
    risk_tier,
    {{ next_action_case }} as next_action,
    top_reasons,
    model_version
from tiered
order by customer_id
