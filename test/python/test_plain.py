from ansible.utils.unsafe_proxy import wrap_var

from strata_ansible.plain import PLAYBOOK_DIR_PLACEHOLDER, to_plain


def test_unwraps_ansible_types_into_plain_ones():
    value = wrap_var({'a': ['x', 1, 2.5, True, None, b'raw'], 'b': ('t',), 'c': {'y', 'x'}})
    plain = to_plain(value)
    assert plain == {'a': ['x', 1, 2.5, True, None, b'raw'], 'b': ['t'], 'c': ['x', 'y']}
    assert type(plain['a'][0]) is str


def test_replaces_the_playbook_dir_wherever_it_appears():
    plain = to_plain({'src': '/home/u/proj/files/a', 'dest': '/home/u/proj', 'other': '/home/u/project2/x',
                      'inside': ['see /home/u/proj/files and /home/u/proj.']}, '/home/u/proj')
    assert plain == {'src': PLAYBOOK_DIR_PLACEHOLDER + '/files/a', 'dest': PLAYBOOK_DIR_PLACEHOLDER,
                     'other': '/home/u/project2/x',
                     'inside': ['see %s/files and %s.' % (PLAYBOOK_DIR_PLACEHOLDER, PLAYBOOK_DIR_PLACEHOLDER)]}


def test_stringifies_what_msgpack_cannot_carry():
    class Odd:
        def __str__(self):
            return 'odd'
    assert to_plain({'k': Odd()}) == {'k': 'odd'}


def test_replaces_the_omit_token_which_changes_every_run():
    token = '__omit_place_holder__1234abcd'
    assert to_plain({'item': {'mode': token}}, omit=token) == {'item': {'mode': '{{ omit }}'}}
