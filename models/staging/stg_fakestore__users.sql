with

source as (

    select * from {{ source('fakestore', 'users') }}

),

newest as (

    {{ newest_version('source', 'id') }}

),

renamed as (

    -- Contact and address fields stay in raw: no model downstream needs them.
    select
        cast(id as bigint) as user_id,
        username,
        name__firstname as first_name,
        name__lastname as last_name,
        address__city as city,
        _dlt_load_id as load_id

    from newest

)

select * from renamed
