#!/usr/bin/python
# A module that warns and deprecates, as many real modules do.

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={'path': {'type': 'str', 'required': True}})
    module.warn('the path %s is only a test' % module.params['path'])
    module.deprecate('the warner module is only a test', version='9.99')
    with open(module.params['path'], 'w') as f:
        f.write('warned\n')
    module.exit_json(changed=True, path=module.params['path'])


if __name__ == '__main__':
    main()
