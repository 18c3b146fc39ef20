-- Opportunities created before $as_of; closed_at is kept only if it is before $as_of too.
with

opportunities as (
    select * from staging.opportunities where created_at < $as_of
),

final as (
    select
        lead_id,
        created_at,
        case when closed_at < $as_of then closed_at end as closed_at,
        coalesce(is_won and closed_at < $as_of, false) as is_won
    from opportunities
)

select * from final
