"""A griffe extension for the API reference (mkdocs.yml loads it into mkdocstrings).

The docstrings are written in Sphinx style, which griffe parses (``:param:``, ``:raises:``,
``:ivar:``) but whose roles (``:class:`Task```) it would print literally. At build time,
this extension:

- turns every role into a link to the object's entry in the reference when that object is
  public, or into plain code when it is private (a reader cannot follow it anyway), and
  Sphinx's ``text::`` before a literal block into ``text:``;
- gives attrs classes the ``__init__`` that attrs generates, so that their signature shows
  the fields a user passes (griffe only knows dataclasses);
- reads the ``#:`` comment above a module-level constant as its docstring (Sphinx's
  convention, used by the code) so that constants such as ``ALL_CHILDREN`` are listed.

The source is left as it is: these are rendering rules, not edits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import griffe

__all__ = ["OneChatReference", "convert_roles", "public_paths"]

#: The public modules, in the order their names are preferred as link targets.
PUBLIC_MODULES = (
    "onechat_async",
    "onechat_async.callbacks",
    "onechat_async.stores",
    "onechat_async.sync",
    "onechat_async.testing",
)
_ROLE = re.compile(
    r":(?:py:)?(?P<role>class|meth|func|attr|exc|data|obj|mod|const|type):`(?P<target>[^`]+)`"
)
_LITERAL = re.compile(r"(\S|\s)::$", re.MULTILINE)
_EMPTY = {"dict": "{}", "list": "[]", "tuple": "()", "set": "set()"}
_TAKES_SELF = re.compile(r"attrs\.Factory\(lambda self: (?P<expr>.+), takes_self=True\)")
_ATTRS_DECORATORS = {"attrs.frozen", "attrs.define", "attrs.mutable", "attr.s", "attrs.attrs"}


def _objects(obj: griffe.Object) -> Iterator[griffe.Object]:
    """``obj`` and everything defined in it (not what it imports), depth first."""
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _objects(member)  # type: ignore[arg-type]


def _target(obj: griffe.Object | griffe.Alias) -> griffe.Object | None:
    """What ``obj`` finally is, following imports; ``None`` if it leaves what griffe loaded."""
    if not obj.is_alias:
        return obj  # type: ignore[return-value]
    try:
        return obj.final_target  # type: ignore[union-attr,return-value]
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def public_paths(pkg: griffe.Module) -> dict[str, str]:
    """Each public object's real path to the path it is documented under.

    An object is public when a public module exports it (``__all__``), or when it is a
    non-underscore member of such an object.
    """
    found: dict[str, str] = {}

    def add(obj: griffe.Object, public: str) -> None:
        found.setdefault(obj.path, public)
        if obj.is_class:
            for name, member in obj.members.items():
                target = _target(member)
                if not name.startswith("_") and target is not None and not target.is_class:
                    found.setdefault(f"{obj.path}.{name}", f"{public}.{name}")

    for module_path in PUBLIC_MODULES:
        module = pkg.modules_collection[module_path]
        add(module, module_path)
        for name in sorted(_exports(module)):
            if name in module.members and (target := _target(module.members[name])) is not None:
                add(target, f"{module_path}.{name}")
    return found


def _exports(module: griffe.Module) -> set[str]:
    names = {str(name) for name in module.exports or ()}
    if module.path == "onechat_async.stores":
        names.add("RedisStore")  # lazily imported, left out of __all__ for star imports
    return names


def _resolve(name: str, scope: griffe.Object, pkg: griffe.Module) -> griffe.Object | None:
    """The object ``name`` means in a docstring of ``scope``: its members, then its parents'."""
    if name.startswith("onechat_async."):
        name = name.removeprefix("onechat_async.")
        scopes: list[griffe.Object] = [pkg]
    else:
        scopes = []
        current: griffe.Object | None = scope
        while current is not None:
            scopes.append(current)
            current = current.parent
        scopes.append(pkg)
    for candidate in scopes:
        found: Any = candidate
        try:
            for part in name.split("."):
                found = found.members[part]
                target = _target(found)
                if target is None:
                    break
                found = target
            else:
                return found  # type: ignore[no-any-return]
        except (KeyError, AttributeError):
            continue
    return None


def convert_roles(
    text: str, scope: griffe.Object, pkg: griffe.Module, public: dict[str, str]
) -> str:
    """``text`` with each Sphinx role made a Markdown link (public) or inline code (private)."""

    def replace(match: re.Match[str]) -> str:
        role, raw = match.group("role"), match.group("target").strip()
        short = raw.startswith("~")
        name = raw.lstrip("~.!")
        shown = name.rsplit(".", 1)[-1] if short else name
        if role in {"meth", "func"}:
            shown += "()"
        obj = _resolve(name, scope, pkg)
        if obj is not None and obj.is_attribute and obj.docstring is None and obj.parent:
            # A field without a docstring of its own is listed in its class's Attributes
            # table (":ivar:"), which has no anchor per row: the class is the target.
            obj = obj.parent
        anchor = public.get(obj.path) if obj is not None else None
        if obj is None:
            # Not in scope (a testing name in a sibling module): a public name that ends
            # the same way, if exactly one does.
            matches = {p for p in public.values() if p.endswith(f".{name}")}
            anchor = matches.pop() if len(matches) == 1 else None
        return f"[`{shown}`][{anchor}]" if anchor else f"`{shown}`"

    # "as follows::" introduces a literal block in Sphinx and renders as "as follows:"; the
    # indented block after it is already a Markdown code block.
    text = _LITERAL.sub(lambda m: "" if m.group(1).isspace() else f"{m.group(1)}:", text)
    return _ROLE.sub(replace, text)


def _is_attrs(cls: griffe.Class) -> dict[str, str] | None:
    for decorator in cls.decorators:
        value = decorator.value
        call = value if isinstance(value, griffe.ExprCall) else None
        path = (call.function if call else value).canonical_path  # type: ignore[union-attr]
        if path in _ATTRS_DECORATORS:
            return _call_args(call) if call else {}
    return None


def _call_args(call: griffe.ExprCall) -> dict[str, str]:
    return {
        arg.name: str(arg.value) for arg in call.arguments if isinstance(arg, griffe.ExprKeyword)
    }


def _attrs_parameters(cls: griffe.Class) -> list[griffe.Parameter] | None:
    options = _is_attrs(cls)
    if options is None or options.get("init") == "False":
        return None
    class_kw_only = options.get("kw_only") == "True"
    parameters: list[griffe.Parameter] = []
    for member in cls.members.values():
        if member.is_alias or not member.is_attribute or member.annotation is None:
            continue
        if "property" in member.labels or (
            "class-attribute" in member.labels and "instance-attribute" not in member.labels
        ):
            continue
        value = member.value
        field: dict[str, str] = {}
        if isinstance(value, griffe.ExprCall) and str(value.function) in {
            "attrs.field",
            "attr.ib",
        }:
            field = _call_args(value)
            if field.get("init") == "False":
                continue
            if "factory" in field:
                factory = field["factory"]
                default: str | None = _EMPTY.get(factory, f"{factory}()")
            else:
                default = field.get("default")
        else:
            default = str(value) if value is not None else None
        if default is not None and (computed := _TAKES_SELF.fullmatch(default)):
            # attrs.Factory(lambda self: self.interval * 3, takes_self=True): "interval * 3".
            default = computed.group("expr").replace("self.", "")
        kind = (
            griffe.ParameterKind.keyword_only
            if class_kw_only or field.get("kw_only") == "True"
            else griffe.ParameterKind.positional_or_keyword
        )
        name = field.get("alias", "").strip("'\"") or member.name.lstrip("_")
        parameters.append(
            griffe.Parameter(name, annotation=member.annotation, kind=kind, default=default)
        )
    return parameters


def _give_attrs_init(cls: griffe.Class) -> None:
    if "__init__" in cls.members:
        return
    own = _attrs_parameters(cls)
    if own is None:
        return
    inherited: list[griffe.Parameter] = []
    for base in reversed(cls.mro()):
        inherited.extend(_attrs_parameters(base) or [])
    parameters = {p.name: p for p in [*inherited, *own]}
    ordered = sorted(parameters.values(), key=lambda p: p.kind is griffe.ParameterKind.keyword_only)
    cls.set_member(
        "__init__",
        griffe.Function(
            "__init__",
            lineno=cls.lineno,
            endlineno=cls.lineno,
            parent=cls,
            parameters=griffe.Parameters(
                griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword),
                *ordered,
            ),
            returns="None",
        ),
    )


def _comment_docstring(attr: griffe.Attribute) -> None:
    """Give a module constant the ``#:`` lines right above it as its docstring."""
    if attr.docstring is not None or attr.lineno is None or attr.filepath is None:
        return
    lines = attr.lines_collection[attr.filepath]  # type: ignore[index]
    comment: list[str] = []
    index = attr.lineno - 2
    while index >= 0 and lines[index].lstrip().startswith("#:"):
        comment.insert(0, lines[index].lstrip()[2:].strip())
        index -= 1
    if comment:
        attr.docstring = griffe.Docstring(
            "\n".join(comment), lineno=index + 2, parent=attr, parser="sphinx"
        )


class OneChatReference(griffe.Extension):
    """Applies the rules of this module once the package is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Rewrite the loaded ``onechat_async`` package for rendering."""
        if pkg.name != "onechat_async":
            return
        objects = list(_objects(pkg))
        for obj in objects:
            if obj.is_class:
                _give_attrs_init(obj)  # type: ignore[arg-type]
            elif obj.is_attribute and obj.parent is not None and obj.parent.is_module:
                _comment_docstring(obj)  # type: ignore[arg-type]
        public = public_paths(pkg)
        for obj in list(_objects(pkg)):
            if obj.docstring is not None:
                obj.docstring.value = convert_roles(obj.docstring.value, obj, pkg, public)
