-- launch planning input: the channel's share of lead conversions under first-touch and
-- last-touch attribution over the three whole months before the launch month.
with

credit as (
    select
        model,
        sum(attributed_conversions) filter (where channel = $channel) as channel_conversions,
        sum(attributed_conversions) as all_conversions
    from marts.channel_attribution
    where conversion_type = 'lead'
        and model in ('first_touch', 'last_touch')
        and month >= $role_start and month < $launch_month
    group by model
),

final as (
    select
        max(channel_conversions / nullif(all_conversions, 0)) filter (where model = 'first_touch')
            as first_touch_share,
        max(channel_conversions / nullif(all_conversions, 0)) filter (where model = 'last_touch')
            as last_touch_share
    from credit
)

select * from final
