__version__ = '0.1.0'


def parse_version_info(version_str: str) -> tuple:
    """'0.1.0rc1' -> (0, 1, 0, 'rc1')."""
    out = []
    for part in version_str.split('.'):
        if part.isdigit():
            out.append(int(part))
        else:
            num = ''.join(c for c in part if c.isdigit())
            rest = part[len(num):]
            if num:
                out.append(int(num))
            out.append(rest)
    return tuple(out)


version_info = parse_version_info(__version__)
