"""Writes to TrackingCategories and their Options, with Xero's rules (Xero's OpenAPI spec,
/TrackingCategories).

- A category: `PUT /TrackingCategories` creates (body: one TrackingCategory), `POST
  /TrackingCategories/{id}` renames or archives (`Status: ARCHIVED`/`ACTIVE`), `DELETE` deletes. A Name
  (≤100 characters) unique among the categories not deleted; at most two ACTIVE categories at once
  (Xero's limit: a third must be archived or deleted first).
- An option: `PUT /TrackingCategories/{id}/Options` creates (body: one TrackingOption, or `Options:
  [...]`), `POST .../Options/{optionId}` renames or archives, `DELETE` deletes. A Name (≤100
  characters) unique within its category; options of a deleted category cannot be written.
Deleted categories and options leave the lists (answered once with `Status: DELETED`).
"""

from __future__ import annotations

from .store import Org, WriteError

MAX_ACTIVE = 2
_STATUSES = ("ACTIVE", "ARCHIVED")


def _name(element: dict, old: dict | None, label: str) -> str:
    name = str(element.get("Name", (old or {}).get("Name")) or "").strip()
    if not name:
        raise WriteError([f"The {label} name must be specified"])
    if len(name) > 100:
        raise WriteError([f"The {label} name must be 100 characters or less"])
    return name


def category(org: Org, category_id: str) -> dict | None:
    found = org.c["TrackingCategories"].get(category_id.lower())
    return found if found and found.get("Status") != "DELETED" else None


def write_tracking_category(org: Org, element: dict, *, create_only: bool) -> dict:
    coll = org.c["TrackingCategories"]
    rid = str(element.get("TrackingCategoryID") or "").lower()
    old = category(org, rid) if rid else None
    if rid and old is None:
        raise WriteError([f"Tracking category with ID '{element['TrackingCategoryID']}' could not be found"])
    name = _name(element, old, "tracking category")
    status = str(element.get("Status", (old or {}).get("Status", "ACTIVE"))).upper()
    if status not in _STATUSES:
        raise WriteError([f"'{status}' is not a valid tracking category status (ACTIVE or ARCHIVED)"])
    others = [c for c in coll.all() if c.get("Status") != "DELETED" and c["TrackingCategoryID"] != (old or {}).get(
        "TrackingCategoryID")]
    if any(c["Name"].lower() == name.lower() for c in others):
        raise WriteError([f"A tracking category named '{name}' already exists"])
    if status == "ACTIVE" and (old or {}).get("Status") != "ACTIVE" and \
            sum(1 for c in others if c.get("Status") == "ACTIVE") >= MAX_ACTIVE:
        raise WriteError([f"An organisation can have at most {MAX_ACTIVE} active tracking categories: archive or "
                          "delete one first"])
    record = dict(old) if old else {"TrackingCategoryID": org.new_id(), "Options": []}
    record["Name"], record["Status"] = name, status
    for option in record["Options"]:
        option["TrackingCategoryID"] = record["TrackingCategoryID"]
    coll.put(record)
    return record


def delete_tracking_category(org: Org, category_id: str) -> dict | None:
    record = category(org, category_id)
    if record is None:
        return None
    record = {**record, "Status": "DELETED"}
    org.c["TrackingCategories"].put(record)
    return record


def write_tracking_option(org: Org, category_id: str, element: dict, option_id: str | None = None) -> dict:
    record = category(org, category_id)
    if record is None:
        raise WriteError(["The tracking category could not be found or has been deleted"])
    options = record.get("Options") or []
    old = next((o for o in options if o["TrackingOptionID"].lower() == (option_id or "").lower()), None)
    if option_id and old is None:
        raise WriteError([f"Tracking option with ID '{option_id}' could not be found"])
    name = _name(element, old, "tracking option")
    status = str(element.get("Status", (old or {}).get("Status", "ACTIVE"))).upper()
    if status not in _STATUSES:
        raise WriteError([f"'{status}' is not a valid tracking option status (ACTIVE or ARCHIVED)"])
    if any(o["Name"].lower() == name.lower() and o is not old for o in options):
        raise WriteError([f"A tracking option named '{name}' already exists in '{record['Name']}'"])
    option = dict(old) if old else {"TrackingOptionID": org.new_id()}
    option.update({"Name": name, "Status": status, "TrackingCategoryID": record["TrackingCategoryID"]})
    record = {**record, "Options": [option if o is old else o for o in options] + ([] if old else [option])}
    org.c["TrackingCategories"].put(record)
    return option


def delete_tracking_option(org: Org, category_id: str, option_id: str) -> dict | None:
    record = category(org, category_id)
    if record is None:
        return None
    options = record.get("Options") or []
    old = next((o for o in options if o["TrackingOptionID"].lower() == option_id.lower()), None)
    if old is None:
        return None
    org.c["TrackingCategories"].put({**record, "Options": [o for o in options if o is not old]})
    return {**old, "Status": "DELETED"}
